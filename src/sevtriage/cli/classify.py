"""``sevtriage classify``: JSONL/CSV tickets in, one JSONL result or error record per line out.

With ``--store`` each classified ticket is also stored, a chunk of lines per transaction together
with the run's progress (``store.batch``), so a killed run continues with ``--resume`` without
losing or doubling a ticket, and its ``-o`` file ends with exactly one line per input line.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import stat
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from sevtriage.cli.options import model_option, no_model_option, rules_dir_option
from sevtriage.errors import InputError
from sevtriage.io import Format, Record, dump_line, read_records, sniff_format
from sevtriage.service.content import content_hash, ticket_content
from sevtriage.ticket import Ticket
from sevtriage.triage import Triager, error_record, load_model

if TYPE_CHECKING:  # the store (SQLAlchemy, Alembic) is imported only when --store is given
    from sevtriage.store import BatchLog, BatchRun, BatchTicket, Store

COMMIT_EVERY = 1000
_P = ParamSpec("_P")
_T = TypeVar("_T")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,49}$")


def _open_input(path: str) -> tuple[IO[bytes], str]:
    if path == "-":
        return sys.stdin.buffer, "-"
    try:
        return open(path, "rb"), path
    except OSError as exc:
        raise click.BadParameter(
            f"cannot open {path!r}: {exc.strerror}", param_hint="INPUT"
        ) from None


def _summary(
    counts: Counter[str], errors: int, total: int, seconds: float, processed: int | None = None
) -> str:
    """The summary line; the rate counts the ``processed`` lines (default: all ``total``)."""
    per_severity = " ".join(f"{sev}={counts.get(sev, 0)}" for sev in ("P1", "P2", "P3", "P4"))
    rate = (total if processed is None else processed) / seconds if seconds > 0 else 0.0
    return (
        f"sevtriage classify: {total} lines in, {total} out: {per_severity} errors={errors} "
        f"needs_review={counts.get('needs_review', 0)} in {seconds:.2f}s ({rate:,.0f} tickets/s)"
    )


@click.command()
@click.argument("input_path", metavar="INPUT", default="-")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    help="Input format; auto uses the file extension or the first byte.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write results here instead of standard output.",
)
@rules_dir_option
@click.option(
    "--now",
    "now_text",
    metavar="ISO-8601",
    help="The instant used as 'now' (reproducible runs); default: the current time.",
)
@model_option
@no_model_option
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: this process; dask: partitions of a JSONL file on a dask cluster.",
)
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler (default: a local cluster).")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=2,
    show_default=True,
    help="Worker processes of the local dask cluster.",
)
@click.option(
    "--partition-lines",
    type=click.IntRange(1),
    default=50_000,
    show_default=True,
    help="Input lines per dask partition.",
)
@click.option(
    "--store",
    "store_url",
    metavar="URL|FILE",
    help="Also store each classified ticket (ticket + intake decision, as the service does) in "
    "this database: sqlite:///FILE, postgresql+psycopg://..., or a SQLite file path. Error "
    "records are not stored. Crash-safe: see --resume.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="With --store: continue the interrupted run of INPUT after its last committed line. "
    "The -o file is cut back to that line and continued; on standard output only the lines "
    "after it are written.",
)
@click.option(
    "--restart",
    is_flag=True,
    help="With --store: classify INPUT from line 1 again, forgetting its recorded run (tickets "
    "already stored are kept, none is stored twice).",
)
@click.option(
    "--commit-every",
    type=click.IntRange(1),
    metavar="N",
    help=f"With --store: input lines per transaction and checkpoint.  [default: {COMMIT_EVERY}]",
)
@click.option(
    "--run-id",
    metavar="NAME",
    help="With --store: name the run instead of fingerprinting INPUT (needed to --resume "
    "an INPUT read from a pipe); up to 50 of [A-Za-z0-9_.:-].",
)
@click.option("--quiet", is_flag=True, help="No summary or progress bar on standard error.")
def classify(
    input_path: str,
    fmt: Format,
    output: Path | None,
    rules_dir: Path | None,
    now_text: str | None,
    model_path: Path | None,
    no_model: bool,
    engine: str,
    scheduler: str | None,
    workers: int,
    partition_lines: int,
    store_url: str | None,
    resume: bool,
    restart: bool,
    commit_every: int | None,
    run_id: str | None,
    quiet: bool,
) -> None:
    """Classify the tickets of INPUT (a .jsonl or .csv file, or - for standard input).

    Writes one JSON line per input line, in order: a triage result, or an error record
    {"id", "line", "error": {"code", "field", "message"}}. Exit status 0 when every line was
    classified, 1 when some lines were error records, 2 on a usage or configuration error.

    With --store URL every classified ticket is also stored (an id already stored is left as it
    is), --commit-every lines per transaction with the run's progress. A run that was killed
    continues with --resume: no ticket lost or stored twice, and the -o file ends with one line
    per input line. A finished run is not repeated (its exit status is given again; --restart
    classifies it again). A resumed run keeps the run's "now" unless --now is given.
    """
    now = _parse_now(now_text)
    if store_url is not None:
        if engine == "dask":
            raise click.BadParameter(
                "cannot be used with --engine dask; store with the local engine",
                param_hint="--store",
            )
        options = _StoreRun(
            input_path=input_path,
            fmt=fmt,
            output=output,
            store_url=store_url,
            resume=resume,
            restart=restart,
            commit_every=commit_every or COMMIT_EVERY,
            run_id=_checked_run_id(run_id),
            now=now if now_text is not None else None,
            quiet=quiet,
        )
        sys.exit(
            _classify_into_store(
                options,
                lambda: Triager(rules_dir, model=None if no_model else load_model(model_path)),
            )
        )
    _refuse_without_store(resume=resume, restart=restart, commit_every=commit_every, run_id=run_id)
    stream: IO[bytes] | None = None
    if engine == "dask":
        if input_path == "-" or fmt == "csv":
            raise click.BadParameter("--engine dask reads a JSONL file (not stdin or CSV)")
        from sevtriage.parallel import classify_on_dask

        lines: Iterator[tuple[str, dict[str, Any]]] = (
            (line, json.loads(line))
            for line in classify_on_dask(
                Path(input_path),
                rules_dir=rules_dir,
                model_path=model_path,
                use_model=not no_model,
                now_iso=now.isoformat(),
                scheduler=scheduler,
                workers=workers,
                lines_per_partition=partition_lines,
            )
        )
    else:
        triager = Triager(rules_dir, model=None if no_model else load_model(model_path))
        _batch_gc()
        stream, name = _open_input(input_path)
        results = triager.triage_records(read_records(stream, fmt, name), now)
        lines = ((dump_line(result), result) for result in results)
    out: IO[str] = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    counts: Counter[str] = Counter()
    errors = total = 0
    started = time.perf_counter()
    progress = _progress(quiet)
    try:
        for text, result in lines:
            out.write(text)
            total += 1
            if "error" in result:
                errors += 1
            else:
                counts[result["severity"]] += 1
                counts["needs_review"] += bool(result["needs_review"])
            if progress is not None:
                progress.update(1)
    finally:
        if progress is not None:
            progress.close()
        if stream is not None and stream is not sys.stdin.buffer:
            stream.close()
        if output:
            out.close()
        else:
            out.flush()
    if not quiet:
        click.echo(_summary(counts, errors, total, time.perf_counter() - started), err=True)
    sys.exit(1 if errors else 0)


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    from sevtriage.ticket import parse_datetime

    try:
        parsed = parse_datetime(text, "--now")
    except InputError as exc:
        raise click.BadParameter(exc.message, param_hint="--now") from None
    if parsed is None:
        raise click.BadParameter("must not be empty", param_hint="--now")
    return parsed


def _progress(quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(unit=" tickets", file=sys.stderr, leave=False)


def _batch_gc() -> None:
    """Garbage collection tuned for a batch: what loading made (rules, lexicons, the model) is
    moved out of the collector's sight for good (``gc.freeze``), and the youngest generation is
    collected every 20,000 allocations instead of 700. Each ticket makes a few hundred objects
    and almost no cycles, so the default spent ~7% of a batch scanning; cycles are still
    collected, less often."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 50)


def _refuse_without_store(**given: object) -> None:
    names = [f"--{name.replace('_', '-')}" for name, value in given.items() if value]
    if names:
        raise click.UsageError(f"{', '.join(names)} only work(s) with --store URL")


def _checked_run_id(run_id: str | None) -> str | None:
    if run_id is not None and not _RUN_ID.match(run_id):
        raise click.BadParameter(
            f"{run_id[:60]!r}: use 1 to 50 of A-Z a-z 0-9 _ . : - (starting with a letter or "
            "digit)",
            param_hint="--run-id",
        )
    return run_id


# --- classify --store ---------------------------------------------------------------------


class RunRefused(click.ClickException):
    """The store's record of this input forbids the run as asked (exit status 2)."""

    exit_code = 2


@dataclass(frozen=True)
class _StoreRun:
    """What ``classify --store`` was asked to do."""

    input_path: str
    fmt: Format
    output: Path | None
    store_url: str
    resume: bool
    restart: bool
    commit_every: int
    run_id: str | None
    now: datetime | None  # --now, when given
    quiet: bool

    @property
    def output_name(self) -> str:
        """Where the results go, as recorded with the run: an absolute path, or ``-``."""
        return str(self.output.resolve()) if self.output is not None else "-"


def _classify_into_store(options: _StoreRun, load_triager: Callable[[], Triager]) -> int:
    """Classify INPUT into the store, chunk by chunk; the exit status. The rules and model are
    loaded only when there is something to classify."""
    if options.resume and options.restart:
        raise click.UsageError("--resume and --restart exclude each other")
    stream, name = _open_input(options.input_path)
    try:
        fmt = sniff_format(stream, name) if options.fmt == "auto" else options.fmt
        sha256 = _fingerprint(stream)
        if sha256 is None and options.resume and options.run_id is None:
            what = "standard input" if name == "-" else name
            raise click.UsageError(
                f"--resume needs --run-id NAME here: {what} is a pipe, not a file, so it has no "
                "fingerprint to find its interrupted run by (name the run when starting it)"
            )
        store = _open_store(options.store_url)
        try:
            return _store_run(options, load_triager, store, stream, (name, fmt, sha256))
        finally:
            store.close()
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _store_run(
    options: _StoreRun,
    load_triager: Callable[[], Triager],
    store: Store,
    stream: IO[bytes],
    source: tuple[str, Format, str | None],
) -> int:
    """Find the input's run in the store, decide what to do with it, and do it."""
    from sevtriage.store import BatchLog

    name, fmt, sha256 = source
    key, label = _run_key(options.run_id, fmt, sha256)
    log = BatchLog(store)
    found = _db(log.load, key)
    if found is not None and found.finished_at is not None and not options.restart:
        click.echo(
            f"sevtriage classify: {name} was already classified into this store (run {key}: "
            f"{found.lines_done} lines, finished {found.finished_at:%Y-%m-%d %H:%M:%S} UTC); "
            "nothing to do. Pass --restart to classify it again.",
            err=True,
        )
        return 1 if found.counts.get("errors") else 0
    if found is not None and not (options.resume or options.restart):
        raise RunRefused(
            f"an interrupted run of {name} is in this store (run {key}: {found.lines_done} lines "
            f"committed, the last at {found.updated_at:%Y-%m-%d %H:%M:%S} UTC). Pass --resume "
            "to continue it, or --restart to classify it from line 1 again (stored tickets are "
            "kept, none is stored twice)."
        )
    triager = load_triager()
    _batch_gc()
    if found is not None and options.resume:
        _check_resumable(found, triager, options, fmt, sha256)
        run = replace(found, intake_at=options.now or found.intake_at)
    else:
        if options.resume and not options.quiet:
            click.echo(f"sevtriage classify: no interrupted run of {name}; from line 1", err=True)
        run = _new_run(key, name, fmt, sha256, options, triager)
    out = _open_run_output(options.output, run.output_bytes)
    try:
        if run.lines_done == 0:  # recorded before the output is cut: a kill between is resumable
            run = _db(log.start, run, found)
        if _is_regular(out):
            out.truncate(run.output_bytes)
        records = _records_after(stream, fmt, name, run.lines_done)
        return _store_chunks(log, run, triager, records, out, options, f"classify:{label}")
    finally:
        if options.output is not None:
            out.close()
        else:
            out.flush()


def _run_key(run_id: str | None, fmt: str, sha256: str | None) -> tuple[str, str]:
    """The run's key in ``batch_runs`` and a short label for the audit (``classify:LABEL``)."""
    if run_id is not None:
        return f"id:{run_id}", run_id
    if sha256 is not None:
        return f"{fmt}:{sha256}", sha256[:16]
    token = uuid.uuid4().hex[:16]  # a pipe without --run-id: never resumed
    return f"stdin:{token}", f"stdin-{token}"


def _new_run(
    key: str,
    name: str,
    fmt: str,
    sha256: str | None,
    options: _StoreRun,
    triager: Triager,
) -> BatchRun:
    from sevtriage.store import BatchRun

    started = datetime.now(UTC)
    return BatchRun(
        run_key=key,
        input_name=name,
        input_sha256=sha256,
        input_format=fmt,
        output_name=options.output_name,
        versions=dict(triager.versions),
        intake_at=options.now or started,
        started_at=started,
        updated_at=started,
    )


def _check_resumable(
    run: BatchRun, triager: Triager, options: _StoreRun, fmt: str, sha256: str | None
) -> None:
    """Refuse to continue ``run`` with another input, format, output or rules/model/policy."""
    changed = [
        f"{what} {run.versions.get(what)} -> {now}"
        for what, now in triager.versions.items()
        if run.versions.get(what) != now
    ]
    problem = None
    if changed:
        problem = (
            f"the interrupted run used other versions ({'; '.join(changed)}): resume with its "
            "--rules-dir and --model/--no-model"
        )
    elif run.output_name != options.output_name:
        where = "standard output" if run.output_name == "-" else f"-o {run.output_name}"
        problem = f"the interrupted run wrote to {where}: resume with the same output"
    elif run.input_format != fmt:
        problem = (
            f"the interrupted run read {run.input_format}: resume with --format {run.input_format}"
        )
    elif run.input_sha256 is not None and sha256 is not None and run.input_sha256 != sha256:
        problem = f"INPUT is not the file of run {run.run_key} (its sha256 differs)"
    if problem is not None:
        raise RunRefused(f"{problem}, or pass --restart to classify INPUT from line 1 again.")


def _is_regular(stream: IO[bytes]) -> bool:
    """Whether ``stream`` is a regular file (it can be hashed, cut, fsynced, locked)."""
    return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)


def _fingerprint(stream: IO[bytes]) -> str | None:
    """SHA-256 of the rest of ``stream`` when it is a regular file (a path, or standard input
    redirected from a file), read without moving it; None for a pipe or a terminal."""
    if not _is_regular(stream):
        return None
    position, digest = stream.tell(), hashlib.sha256()
    while piece := stream.read(1 << 20):
        digest.update(piece)
    stream.seek(position)
    return digest.hexdigest()


def _open_store(text: str) -> Store:
    """The store at ``text`` (a URL, or a SQLite file path), migrated; a clean error if not."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from sevtriage.errors import ConfigError
    from sevtriage.store import Store

    url = text if "://" in text else f"sqlite:///{Path(text)}"
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise click.BadParameter(f"{text!r} is not a database URL", param_hint="--store") from None
    try:
        return _db(Store.open, url)
    except ConfigError as exc:
        reasons = "; ".join(problem.message for problem in exc.problems)
        raise click.BadParameter(reasons, param_hint="--store") from None
    except RunRefused as exc:
        raise click.BadParameter(f"{shown}: {exc.message}", param_hint="--store") from None


def _db(call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``call(*args, **kwargs)``; a database failure becomes a clean error (exit status 2)."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    try:
        return call(*args, **kwargs)
    except SQLAlchemyError as exc:
        reason = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
        raise RunRefused(f"the store failed: {reason.strip().splitlines()[0]}") from None


def _open_run_output(path: Path | None, keep_bytes: int) -> IO[bytes]:
    """The output. A regular file is locked against a second writer and checked to hold at
    least the ``keep_bytes`` the run had written (the caller then cuts it back to them); anything
    else (standard output, a pipe, /dev/null) is written like standard output."""
    if path is None:
        sys.stdout.flush()
        return sys.stdout.buffer
    import fcntl

    try:
        out = open(path, "ab")  # noqa: SIM115 (the caller closes it)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot open {str(path)!r}: {exc.strerror}", param_hint="--output"
        ) from None
    if not _is_regular(out):
        return out
    try:
        try:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunRefused(f"{path} is being written by another process") from None
        size = os.fstat(out.fileno()).st_size
        if size < keep_bytes:
            raise RunRefused(
                f"{path} has {size} bytes but the interrupted run had written {keep_bytes}: it "
                "was changed since. Pass --restart to classify INPUT from line 1 again."
            )
    except BaseException:
        out.close()
        raise
    return out


def _records_after(
    stream: IO[bytes], fmt: Format, name: str, done: int
) -> Iterator[tuple[int, Record]]:
    """The records of ``stream`` after the first ``done`` lines; JSONL lines are skipped unread."""
    if done == 0:
        return read_records(stream, fmt, name)
    if fmt == "csv":  # a row may span lines: skip parsed rows (never triaged)
        return islice(read_records(stream, "csv", name), done, None)
    skipped = _skip_lines(stream, done)
    if skipped < done:
        raise RunRefused(
            f"{name} has {skipped} lines but the interrupted run committed {done}: it is not "
            "the same input. Pass --restart to classify it from line 1 again."
        )
    return ((line + done, record) for line, record in read_records(stream, "jsonl", name))


def _skip_lines(stream: IO[bytes], count: int) -> int:
    """Read past ``count`` lines (as ``io.read_jsonl`` counts them), in bounded pieces."""
    skipped, inside = 0, False
    while skipped < count:
        piece = stream.readline(1 << 20)
        if not piece:
            return skipped + inside
        inside = not piece.endswith(b"\n")
        skipped += not inside
    return skipped


def _parsed_into(
    triager: Triager,
    records: Iterator[tuple[int, Record]],
    sources: deque[tuple[int, Ticket | Record]],
) -> Iterator[tuple[int, Ticket | Record]]:
    """``records`` with each valid ticket parsed (once), each also appended to ``sources`` so
    the caller can pair every result with its ticket. An invalid record goes on as it came, for
    ``triage_records`` to turn into its error record (with the id it can read)."""
    for line, record in records:
        item: Ticket | Record = record
        if isinstance(record, dict):
            try:
                item = triager.parse(record)
            except InputError:
                item = record
        sources.append((line, item))
        yield line, item


def _store_chunks(
    log: BatchLog,
    run: BatchRun,
    triager: Triager,
    records: Iterator[tuple[int, Record]],
    out: IO[bytes],
    options: _StoreRun,
    actor: str,
) -> int:
    """Write each result, store each classified ticket, commit every ``commit_every`` lines
    (output flushed and fsynced first, then the transaction with the progress)."""
    writer = _ChunkWriter(log, run, out, actor)
    sources: deque[tuple[int, Ticket | Record]] = deque()
    fed = _parsed_into(triager, records, sources)
    resumed_at, started = run.lines_done, time.perf_counter()
    progress = _progress(options.quiet)
    if progress is not None:
        progress.update(resumed_at)
    try:
        for result in triager.triage_records(fed, run.intake_at):
            line, source = sources.popleft()
            item: BatchTicket | None = None
            if "error" not in result:
                result, item = _storable(line, source, result, run.intake_at)
            writer.add(result, item)
            if writer.pending_lines >= options.commit_every:
                writer.commit()
            if progress is not None:
                progress.update(1)
        writer.commit(finished=True)
    except KeyboardInterrupt:
        click.echo(
            f"sevtriage classify: interrupted; the first {writer.run.lines_done} lines are "
            "committed. Run the same command with --resume to continue.",
            err=True,
        )
        return 130
    finally:
        if progress is not None:
            progress.close()
    done = writer.run
    if not options.quiet:
        seconds = time.perf_counter() - started
        counts = Counter(done.counts)
        errors = counts.get("errors", 0)
        click.echo(
            _summary(counts, errors, done.lines_done, seconds, done.lines_done - resumed_at),
            err=True,
        )
        resumed = f", resumed after line {resumed_at}" if resumed_at else ""
        click.echo(
            f"sevtriage classify: stored {counts.get('stored', 0)} new tickets "
            f"({counts.get('existing', 0)} lines had an id already stored); "
            f"run {done.run_key}{resumed}",
            err=True,
        )
    return 1 if done.counts.get("errors") else 0


def _storable(
    line: int, source: Ticket | Record, result: dict[str, Any], now: datetime
) -> tuple[dict[str, Any], BatchTicket | None]:
    """The result and what to store of a classified ticket; a ticket created after the run's
    "now" is refused as the service refuses it (an error record, nothing stored)."""
    assert isinstance(source, Ticket), "a result comes from a parsed ticket"
    if source.created_at is not None and source.created_at > now:
        message = f"{source.created_at.isoformat()} is after now ({now.isoformat()})"
        error = InputError("in_future", message, "created_at")
        return error_record(line, source.id, error), None
    return result, _batch_ticket(source, result, now)


def _batch_ticket(source: Ticket | Record, result: dict[str, Any], now: datetime) -> BatchTicket:
    """The ticket row and intake decision of a classified ticket (as the service stores them)."""
    from sevtriage.store import BatchTicket, NewTicket, decision_from_result

    assert isinstance(source, Ticket), "a result comes from a parsed ticket"
    content = ticket_content(source)
    decision = decision_from_result(result, content, content_hash(content))
    return BatchTicket(NewTicket(source.id, source.created_at or now), decision)


class _ChunkWriter:
    """The output and the store of one run: lines are written as they come; ``commit`` makes
    them durable (flush + fsync), then stores the chunk's tickets with the run's progress."""

    def __init__(self, log: BatchLog, run: BatchRun, out: IO[bytes], actor: str) -> None:
        self.log, self.run, self.out, self.actor = log, run, out, actor
        self.counts: Counter[str] = Counter(run.counts)
        self.lines, self.size = run.lines_done, run.output_bytes
        self.items: list[BatchTicket] = []
        self.fsync = _is_regular(out)

    @property
    def pending_lines(self) -> int:
        return self.lines - self.run.lines_done

    def add(self, result: dict[str, Any], item: BatchTicket | None) -> None:
        data = dump_line(result).encode("utf-8")
        self.out.write(data)
        self.lines += 1
        self.size += len(data)
        if item is None:
            self.counts["errors"] += 1
        else:
            self.counts[result["severity"]] += 1
            self.counts["needs_review"] += bool(result["needs_review"])
            self.items.append(item)

    def commit(self, finished: bool = False) -> None:
        self.out.flush()
        if self.fsync:
            os.fsync(self.out.fileno())
        try:
            self.run = _db(
                self.log.commit,
                self.run,
                self.items,
                lines_done=self.lines,
                output_bytes=self.size,
                counts=dict(self.counts),
                actor=self.actor,
                at=datetime.now(UTC),
                finished=finished,
            )
        except RunRefused as exc:
            raise RunRefused(
                f"{exc.message}. The first {self.run.lines_done} lines are committed: run the "
                "same command with --resume to continue."
            ) from None
        self.counts = Counter(self.run.counts)
        self.items = []
