"""What keeps the worker processes of ``sevtriage serve --workers N`` on the same files: a reload
channel they share, and a supervisor that reloads them in place on SIGHUP.

Each worker loads rules, model and SLA policies itself and reloads with its own ``Reloader``, so
a reload over HTTP reaches only the worker that accepted the connection. The channel is a
generation counter in a file of a private directory that the supervising process creates (and
removes at exit); its path reaches the workers in ``$SEVTRIAGE_SERVE_RELOADS``. The counter goes
up when a worker has reloaded on its own (``POST /v1/admin/reload`` or SIGHUP sent to that
worker) and succeeded, and when the supervisor gets SIGHUP (it loads nothing itself). Every
worker follows it in a daemon thread that reads it twice a second, off the request path, and
reloads when it has moved; a worker that refuses the files keeps its last good versions and
records why (``last_reload_error``), as for any reload. A refused reload does not move it.

uvicorn's own supervisor answers SIGHUP by starting new worker processes: that costs a full load
per worker (a new process of about 120 MB each), and a replacement that refuses a corrupt file never
starts, so the workers' state says nothing of it. ``InPlaceReloads`` keeps the processes.

Writes replace the file in one rename (a reader sees the old number or the new one, never half)
and are serialised by an exclusive ``flock`` on a lock file beside it, so no bump is lost.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from socket import socket

from uvicorn import Config
from uvicorn.supervisors import Multiprocess

from sevtriage.errors import ConfigError, ConfigProblem

log = logging.getLogger("uvicorn.error")

CHANNEL_ENV = "SEVTRIAGE_SERVE_RELOADS"
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Generation:
    """How many reloads the workers were asked for, and what asked for the last one."""

    number: int
    cause: str


class ReloadChannel:
    """The reload generation shared by the workers of one ``serve``, in the file ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(f"{path.name}.lock")

    @classmethod
    @contextmanager
    def created(cls, parent: Path | None = None) -> Iterator[ReloadChannel]:
        """A new channel at generation 0, in a private directory (mode 0700) made under
        ``parent`` (default: the system's temporary directory) and removed on exit."""
        with tempfile.TemporaryDirectory(prefix="sevtriage-serve-", dir=parent) as directory:
            channel = cls(Path(directory) / "generation")
            channel._write(Generation(0, "start"))
            yield channel

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReloadChannel | None:
        """The channel ``serve`` gave this worker, or None (a single process has none)."""
        raw = (os.environ if env is None else env).get(CHANNEL_ENV, "").strip()
        return cls(Path(raw)) if raw else None

    def read(self) -> Generation:
        """The current generation; ``ConfigError`` if the file is gone or is not a counter."""
        try:
            number, _, cause = self.path.read_text(encoding="utf-8").partition("\n")
            return Generation(int(number), cause.strip())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            problem = ConfigProblem(
                str(self.path),
                "",
                f"cannot read the workers' reload generation ({exc}); it belongs to the "
                f"`sevtriage serve` that set {CHANNEL_ENV} and goes away with it",
            )
            raise ConfigError([problem]) from exc

    def bump(self, cause: str) -> int:
        """Ask every worker to reload (``cause`` says who asked); returns the new generation.
        Raises ``ConfigError`` or ``OSError`` if the channel is gone."""
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            number = self.read().number + 1
            self._write(Generation(number, cause))
        return number

    def _write(self, generation: Generation) -> None:
        fd, temporary = tempfile.mkstemp(prefix=".generation-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(f"{generation.number}\n{generation.cause}\n")
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def follow(
        self,
        since: int,
        catch_up: Callable[[Generation], None],
        interval: float = POLL_SECONDS,
    ) -> Callable[[], None]:
        """Call ``catch_up`` in a daemon thread each time the generation goes past ``since`` and
        every one seen before; returns how to stop. A channel that cannot be read is logged once
        (until it can be again) and the last one read stays in force."""
        stop = threading.Event()

        def run() -> None:
            seen, failing = since, False
            while not stop.wait(interval):
                try:
                    generation = self.read()
                except ConfigError as exc:
                    if not failing:
                        log.error("sevtriage: cannot follow the workers' reloads: %s", exc)
                    failing = True
                    continue
                failing = False
                if generation.number > seen:
                    seen = generation.number
                    try:
                        catch_up(generation)
                    except Exception:  # a bug must not stop the following: log it, go on
                        log.exception("sevtriage: reload to generation %d failed", seen)

        thread = threading.Thread(target=run, name="sevtriage-reload-channel", daemon=True)
        thread.start()
        return stop.set


class InPlaceReloads(Multiprocess):
    """uvicorn's worker supervisor, except that SIGHUP asks the workers to load their files
    again (it bumps ``channel``) instead of replacing them with new processes: the pids stay,
    and a worker that refuses a file keeps serving its last good versions."""

    def __init__(self, config: Config, sockets: list[socket], channel: ReloadChannel) -> None:
        super().__init__(config, sockets)
        self.channel = channel

    def handle_hup(self) -> None:
        try:
            generation = self.channel.bump(f"SIGHUP to the supervisor [{os.getpid()}]")
        except (ConfigError, OSError) as exc:
            log.error("sevtriage: SIGHUP: the workers could not be asked to reload: %s", exc)
            return
        log.info("sevtriage: SIGHUP: the workers reload (generation %d)", generation)


def run_supervised(config: Config, channel: ReloadChannel) -> None:
    """Serve ``config`` (an app factory's import string and ``workers`` > 1) as ``uvicorn.run``
    does, under ``InPlaceReloads``. The workers find ``channel`` in ``$SEVTRIAGE_SERVE_RELOADS``,
    which must be set before this starts them."""
    sock = config.bind_socket()
    try:
        InPlaceReloads(config, [sock], channel).run()
    except KeyboardInterrupt:  # as uvicorn.run: Ctrl-C before the supervisor catches signals
        pass
    finally:
        sock.close()
