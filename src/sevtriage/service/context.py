"""What every request handler needs, built once per app: store, triager, SLA, metrics, clock; and
the ``Reloader`` that swaps in a new triager (rules + model + SLA) without a restart.

The context in service lives in one slot, ``app.state.ctx``. A request reads the slot once (the
``Ctx`` dependency is resolved once per request) and keeps that snapshot to its end, so a request
in flight finishes on the triager it started with and never mixes two versions. A reload builds
the new triager off to the side and then replaces the slot in one assignment (atomic in CPython):
the request hot path takes no lock. Reloads themselves are serialised by the reloader's lock.

Under ``serve --workers N`` each worker has its own reloader, tied to the workers' reload channel
(``service.workers``): a reload of its own that succeeds asks the others to reload too, and it
catches up with the reloads the others (or the supervisor's SIGHUP) asked for.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from anyio import CapacityLimiter

from sevtriage.errors import ConfigError, ModelError, SevtriageError
from sevtriage.service.metrics import Metrics
from sevtriage.service.problems import load_problems
from sevtriage.service.settings import Settings
from sevtriage.service.sla_bridge import SlaBridge
from sevtriage.service.startup import settle_heap
from sevtriage.store import Store
from sevtriage.triage import Triager

if TYPE_CHECKING:
    from sevtriage.service.workers import Generation, ReloadChannel

# uvicorn's general-purpose logger: configured by ``sevtriage serve``, so reloads show in its log.
log = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class ServiceContext:
    store: Store
    triager: Triager
    sla: SlaBridge
    metrics: Metrics
    settings: Settings
    clock: Callable[[], datetime]
    # Single-ticket intakes take turns in one thread, in arrival order, where the store's writes
    # take turns anyway (SQLite); None: the threadpool. Triage is CPU work under the GIL whose C
    # calls (RE2 matches, SQLite statements) let go of the GIL and take it back: several intakes
    # at once hand it to each other at every such call (~40 context switches per request with 16
    # in flight, +30-40 % CPU per request, measured), just when the service is behind and needs
    # it most. Batches keep the threadpool, so that a long batch never holds the lane.
    intake_lane: CapacityLimiter | None = None

    def now(self) -> datetime:
        """The injected clock's time; refused if naive (every stored time is aware)."""
        value = self.clock()
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the service clock returned a naive datetime")
        return value

    @property
    def versions(self) -> dict[str, str | None]:
        """The rules, model and SLA policy versions this context serves."""
        return {**self.triager.versions, "sla_policy": self.sla.version}

    def with_triager(self, triager: Triager) -> ServiceContext:
        """The same context serving ``triager`` (and its SLA policies)."""
        return replace(self, triager=triager, sla=SlaBridge(triager))


class Slot(Protocol):
    """Where the context in service lives (``app.state``)."""

    ctx: ServiceContext


class ReloadRefused(SevtriageError):
    """A reload could not load the files; the service keeps the versions it has (HTTP 409)."""

    def __init__(self, problems: list[dict[str, Any]], in_service: dict[str, str | None]) -> None:
        self.problems = problems
        self.in_service = in_service
        super().__init__("; ".join(str(p["msg"]) for p in problems))


class Reloader:
    """Rebuilds the triager with ``loader`` and swaps the service onto it, or keeps the last
    good one and remembers why not (``last_error``, cleared by the next successful reload).

    With a ``channel`` (one of several workers), ``generation`` is the channel's generation whose
    files this process has loaded (read before its first load)."""

    def __init__(
        self,
        slot: Slot,
        loader: Callable[[], Triager],
        channel: ReloadChannel | None = None,
        generation: int = 0,
    ) -> None:
        self._slot = slot
        self._loader = loader
        self._lock = threading.Lock()
        self._channel = channel
        self._generation = generation
        self.loaded_at: datetime | None = None
        self.reloads = 0
        self.last_error: dict[str, Any] | None = None

    @property
    def generation(self) -> int | None:
        """The workers' reload generation this process has taken (None: no other workers)."""
        return self._generation if self._channel is not None else None

    def start(self, ctx: ServiceContext) -> None:
        """Put the first context in service (at app start)."""
        self._slot.ctx = ctx
        self.loaded_at = ctx.now()

    def reload(self, trigger: str) -> dict[str, Any]:
        """Load rules, model and SLA policies again; on success serve them from the next request
        on (and ask the other workers to reload), and answer the versions before and after.
        Raises ``ReloadRefused`` otherwise."""
        with self._lock:
            answer = self._swap(trigger)
            if self._channel is not None:
                self._announce(self._channel, trigger)
            answer |= {"pid": os.getpid(), "generation": self.generation}
        # The replaced triager's garbage is collected here, or by the next settle if a request
        # in flight still holds it.
        settle_heap()
        return answer

    def catch_up(self, generation: Generation) -> None:
        """Reload because the workers' generation moved to ``generation`` (another worker
        reloaded, or the supervisor got SIGHUP); nothing to do where this process has already
        loaded at or after it. A refusal goes to the log and ``status()``, as a SIGHUP's."""
        with self._lock:
            if generation.number <= self._generation:
                return
            try:
                self._swap(f"{generation.cause}, generation {generation.number}")
            except ReloadRefused:
                return  # already logged and kept as ``last_error``
            self._generation = generation.number
        settle_heap()

    def _swap(self, trigger: str) -> dict[str, Any]:
        """Under the lock: load, and put the new triager in service or raise ``ReloadRefused``."""
        old = self._slot.ctx
        started = old.now()
        try:
            triager = self._loader()
        except (ConfigError, ModelError) as exc:
            raise self._refused(old, started, trigger, exc) from exc
        except Exception as exc:  # a bug must not take the service down: keep serving
            log.exception("sevtriage: reload (%s) failed unexpectedly", trigger)
            raise self._refused(old, started, trigger, exc) from exc
        new = old.with_triager(triager)
        self._slot.ctx = new
        self.loaded_at, self.last_error = started, None
        self.reloads += 1
        changed = sorted(k for k, v in new.versions.items() if old.versions.get(k) != v)
        log.info("sevtriage: reloaded (%s): %s", trigger, _describe(new.versions))
        return {
            "status": "reloaded",
            "versions": new.versions,
            "previous": old.versions,
            "changed": changed,
            "loaded_at": started.isoformat(),
        }

    def _announce(self, channel: ReloadChannel, trigger: str) -> None:
        """Under the lock, after a reload of this process's own: ask the others to follow."""
        try:
            self._generation = channel.bump(f"{trigger} in worker [{os.getpid()}]")
        except (ConfigError, OSError) as exc:
            log.error("sevtriage: reloaded, but the other workers could not be told: %s", exc)

    def _refused(
        self, old: ServiceContext, at: datetime, trigger: str, error: Exception
    ) -> ReloadRefused:
        problems = load_problems(error)
        self.last_error = {"at": at.isoformat(), "trigger": trigger, "problems": problems}
        log.warning(
            "sevtriage: reload (%s) refused, still serving %s:\n%s",
            trigger,
            _describe(old.versions),
            error,
        )
        return ReloadRefused(problems, old.versions)

    def reload_logged(self, trigger: str) -> None:
        """``reload`` for a signal: the outcome goes to the log and ``status()``, not a caller."""
        try:
            self.reload(trigger)
        except ReloadRefused:
            return  # already logged and kept as ``last_error``

    def status(self) -> dict[str, Any]:
        """The versions in service, when they were loaded, and the last refused reload; which
        process answers, and the workers' reload generation it has taken (None: single process)."""
        return {
            "pid": os.getpid(),
            "generation": self.generation,
            "versions": self._slot.ctx.versions,
            "loaded_at": self.loaded_at.isoformat() if self.loaded_at else None,
            "reloads": self.reloads,
            "last_reload_error": self.last_error,
        }


def _describe(versions: dict[str, str | None]) -> str:
    return ", ".join(f"{k} {v}" for k, v in versions.items())
