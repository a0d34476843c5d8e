"""``sevtriage classify --store``: real processes killed with SIGKILL at random points, resumed,
on a real SQLite file (and PostgreSQL when ``SEVTRIAGE_TEST_DATABASE_URL`` is set).

After every kill the store must hold exactly the valid tickets of the committed lines (the
checkpoint and the data are one transaction); after the last resume, every valid ticket once with
one intake decision, no rejected line stored, and an output byte-identical to a clean run.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import Engine, create_engine, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from sevtriage.store import BatchLog, BatchRun, RunConflict, Store
from sevtriage.store.schema import batch_runs, decisions, tickets
from tests.hostile import hostile_jsonl_lines
from tests.service.conftest import (  # noqa: F401 (fixtures: the store, the real service)
    BOT,
    Server,
    clock,
    database_url,
    serve,
    server,
)

REPO = Path(__file__).resolve().parents[1]
NOW = "2026-12-02T09:00:00+00:00"  # after every generated created_at (November 2026)


@dataclass(frozen=True)
class Corpus:
    """Generated tickets with hostile lines and re-used ids mixed in, and its clean output."""

    path: Path
    lines: list[bytes]
    reference: list[bytes]  # the output lines of a run without --store

    def valid_ids(self, upto: int | None = None) -> set[str]:
        return {r["id"] for r in self._results(upto) if "error" not in r}

    def valid_lines(self) -> int:
        return sum(1 for r in self._results(None) if "error" not in r)

    def first_bodies(self) -> dict[str, str]:
        """The body of each id's first valid line: what the store must keep."""
        bodies: dict[str, str] = {}
        for line, result in zip(self.lines, self._results(None), strict=True):
            if "error" not in result:
                bodies.setdefault(result["id"], json.loads(line)["body"])
        return bodies

    def _results(self, upto: int | None) -> Iterator[dict[str, Any]]:
        return (json.loads(line) for line in self.reference[:upto])


def _sevtriage(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "sevtriage", *args],
        capture_output=True,
        check=False,
        timeout=120,
        **kwargs,
    )


def _start(*args: str, stdin: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sevtriage", *args],
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    tmp = tmp_path_factory.mktemp("corpus")
    generated = tmp / "generated.jsonl"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "data" / "tools" / "generate_corpus.py"),
            *("--n", "3500", "--seed", "11", "--out", str(generated)),
        ],
        check=True,
        capture_output=True,
    )
    lines = generated.read_bytes().splitlines()
    rng = random.Random(11)
    reused = [
        json.dumps({**json.loads(line), "body": f"Changed later: {i}"}).encode()
        for i, line in enumerate(rng.sample(lines, 25))
    ]
    for extra in [*hostile_jsonl_lines(200, seed=11, big_bodies=0), *reused]:
        lines.insert(rng.randrange(len(lines) + 1), extra)
    path = tmp / "tickets.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    proc = _sevtriage("classify", str(path), "--no-model", "--now", NOW, "--quiet")
    assert proc.returncode == 1, proc.stderr  # the hostile lines are error records
    reference = proc.stdout.splitlines(keepends=True)
    assert len(reference) == len(lines)
    return Corpus(path, lines, reference)


@pytest.fixture
def store_url(database_url: str) -> str:  # noqa: F811
    """A fresh store: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    return database_url


@pytest.fixture
def reader(store_url: str) -> Iterator[Engine]:
    """A plain engine to look at the store from outside (takes no write lock)."""
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


def _lines_done(reader: Engine, store_url: str) -> int:
    """The run's committed lines; 0 before the database or the run exists."""
    database = make_url(store_url).database
    if store_url.startswith("sqlite") and not (database and Path(database).exists()):
        return 0
    try:
        with reader.connect() as connection:
            return int(connection.execute(select(func.max(batch_runs.c.lines_done))).scalar() or 0)
    except SQLAlchemyError:  # the schema is being created by the run
        return 0


# Lines a run still has to do when it is killed at the latest: more than a chunk (1,024), so
# a fast machine cannot finish the run between two looks at its progress.
RESERVE = 1_200


def _kill_when(
    proc: subprocess.Popen[bytes], done: Any, at_least: int, then: float, total: int
) -> None:
    """SIGKILL ``proc`` ``then`` seconds after ``done()`` reaches ``at_least`` lines, or as soon
    as fewer than ``RESERVE`` of its ``total`` lines are left (whichever comes first)."""
    latest = total - RESERVE
    at_least = min(at_least, latest)
    deadline = time.monotonic() + 90
    while done() < at_least:
        if proc.poll() is not None:
            assert proc.stderr is not None
            raise AssertionError(f"the run ended before line {at_least}: {proc.stderr.read()!r}")
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)
    until = time.monotonic() + then
    while time.monotonic() < until and done() < latest:
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed: use a bigger corpus"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _stored(reader: Engine) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    """Ticket ids, and each ticket's decisions as (kind, body); nothing before the migration."""
    with reader.connect() as connection:
        if not inspect(connection).has_table("tickets"):
            return [], {}
        ids = list(connection.execute(select(tickets.c.id)).scalars())
        per_ticket: dict[str, list[tuple[str, str]]] = {}
        query = select(decisions.c.ticket_id, decisions.c.kind, decisions.c.content)
        for ticket_id, kind, content in connection.execute(query):
            per_ticket.setdefault(ticket_id, []).append((kind, content["body"]))
    return ids, per_ticket


def _assert_store_holds_lines(reader: Engine, corpus: Corpus, upto: int | None) -> None:
    """The store holds exactly the valid tickets of the first ``upto`` lines, once each."""
    ids, per_ticket = _stored(reader)
    assert len(ids) == len(set(ids))
    assert set(ids) == corpus.valid_ids(upto)
    assert set(per_ticket) == set(ids)
    assert all(len(d) == 1 and d[0][0] == "intake" for d in per_ticket.values())


def _assert_complete(reader: Engine, corpus: Corpus, output: bytes) -> None:
    """Every valid ticket stored once with its first body, the run finished, the output clean."""
    _assert_store_holds_lines(reader, corpus, None)
    _, per_ticket = _stored(reader)
    assert {i: d[0][1] for i, d in per_ticket.items()} == corpus.first_bodies()
    with reader.connect() as connection:
        run = connection.execute(select(batch_runs)).one()._mapping
    assert run["finished_at"] is not None and run["lines_done"] == len(corpus.lines)
    assert run["counts"]["stored"] == len(corpus.valid_ids())
    assert run["counts"]["existing"] == corpus.valid_lines() - len(corpus.valid_ids())
    assert output == b"".join(corpus.reference)  # line for line, byte for byte


def _classify_args(corpus: Corpus, store_url: str, out: Path, *extra: str) -> list[str]:
    return [
        "classify",
        str(corpus.path),
        *("--store", store_url, "-o", str(out), "--no-model", "--now", NOW, "--quiet"),
        *extra,
    ]


def test_killed_twice_and_resumed_twice_stores_each_ticket_once_and_writes_the_clean_output(
    corpus: Corpus, store_url: str, reader: Engine, tmp_path: Path
) -> None:
    """Two SIGKILLs at random points after commits, two resumes: nothing lost, nothing doubled."""
    out = tmp_path / "out.jsonl"
    rng = random.Random(f"twice-{store_url[:10]}")
    done = 0
    for attempt in range(2):
        extra = ("--commit-every", "100", *(("--resume",) if attempt else ()))
        proc = _start(*_classify_args(corpus, store_url, out, *extra))
        _kill_when(
            proc,
            lambda: _lines_done(reader, store_url),
            done + rng.randint(100, 900),
            rng.uniform(0, 0.2),
            len(corpus.lines),
        )
        done = _lines_done(reader, store_url)
        _assert_store_holds_lines(reader, corpus, done)
        assert out.stat().st_size >= sum(len(line) for line in corpus.reference[:done])
    proc_done = _sevtriage(*_classify_args(corpus, store_url, out, "--resume"))
    assert proc_done.returncode == 1, proc_done.stderr  # the hostile lines are error records
    _assert_complete(reader, corpus, out.read_bytes())


def test_many_kills_at_random_points_lose_and_double_nothing(
    corpus: Corpus, tmp_path: Path
) -> None:
    """Four kills with small chunks: one at a random time from the start (during start-up, the
    migration or the first chunks), three a random moment after a random commit (mid-chunk,
    during an fsync or a commit); the store always matches its checkpoint."""
    store_url = f"sqlite:///{tmp_path / 'runs.db'}"
    reader = create_engine(store_url)
    out = tmp_path / "out.jsonl"
    rng = random.Random(7)
    args = _classify_args(corpus, store_url, out, "--commit-every", "37", "--resume")
    total = len(corpus.lines)
    try:
        proc = _start(*args)
        _kill_when(proc, lambda: _lines_done(reader, store_url), 0, rng.uniform(0.2, 0.9), total)
        _assert_store_holds_lines(reader, corpus, _lines_done(reader, store_url))
        for _ in range(3):
            done = _lines_done(reader, store_url)
            proc = _start(*args)
            _kill_when(
                proc,
                lambda: _lines_done(reader, store_url),
                done + rng.randint(1, 600),
                rng.uniform(0, 0.05),
                total,
            )
            _assert_store_holds_lines(reader, corpus, _lines_done(reader, store_url))
        final = _sevtriage(*args)
        assert final.returncode == 1, final.stderr
        _assert_complete(reader, corpus, out.read_bytes())
    finally:
        reader.dispose()


def test_output_to_a_device_is_written_like_standard_output(tmp_path: Path) -> None:
    """-o /dev/null (not a regular file): not cut, locked or fsynced, and the run still stored."""
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps({"id": "A", "body": "The inbox is down."}) + "\n")
    store_url = f"sqlite:///{tmp_path / 'runs.db'}"
    proc = _sevtriage("classify", str(src), "--store", store_url, "-o", "/dev/null", "--no-model")
    assert proc.returncode == 0, proc.stderr
    assert b"stored 1 new tickets" in proc.stderr


def test_an_interrupted_run_is_continued_only_as_it_was_started(
    corpus: Corpus, tmp_path: Path
) -> None:
    """Without --resume, or with another model or output, an interrupted run is refused (exit 2,
    the output untouched); a resume after the output was written but before the commit (the
    chunk's lines and half a line past the checkpoint) cuts them and writes each line once."""
    store_url = f"sqlite:///{tmp_path / 'runs.db'}"
    reader = create_engine(store_url)
    out = tmp_path / "out.jsonl"
    try:
        proc = _start(*_classify_args(corpus, store_url, out, "--commit-every", "50"))
        _kill_when(proc, lambda: _lines_done(reader, store_url), 400, 0, len(corpus.lines))
        before = out.read_bytes()

        refused = _sevtriage(*_classify_args(corpus, store_url, out))
        assert refused.returncode == 2
        message = refused.stderr.decode()
        assert "interrupted run" in message and "--resume" in message and "--restart" in message
        assert "Traceback" not in message
        model = _sevtriage(
            "classify", str(corpus.path), "--store", store_url, "-o", str(out), "--resume"
        )
        assert model.returncode == 2 and b"--model/--no-model" in model.stderr
        other = _sevtriage(*_classify_args(corpus, store_url, tmp_path / "other.jsonl", "--resume"))
        assert other.returncode == 2 and str(out.resolve()).encode() in other.stderr
        assert out.read_bytes() == before

        done = _lines_done(reader, store_url)
        committed = b"".join(corpus.reference[:done])
        written = b"".join(corpus.reference[: done + 50]) + corpus.reference[done + 50][:7]
        out.write_bytes(written)  # fsynced, then killed before the commit
        resumed = _sevtriage(*_classify_args(corpus, store_url, out, "--resume"))
        assert resumed.returncode == 1, resumed.stderr
        assert out.read_bytes().startswith(committed)
        _assert_complete(reader, corpus, out.read_bytes())
    finally:
        reader.dispose()


def test_standard_input_resumes_only_with_a_run_id(corpus: Corpus, tmp_path: Path) -> None:
    """--resume on stdin without --run-id is refused; with it, a killed run continues and writes
    only the lines after the checkpoint to standard output."""
    store_url = f"sqlite:///{tmp_path / 'runs.db'}"
    refused = _sevtriage("classify", "-", "--store", store_url, "--resume", input=b"")
    assert refused.returncode == 2
    assert b"--run-id" in refused.stderr and b"Traceback" not in refused.stderr

    reader = create_engine(store_url)
    args = ("classify", "-", "--run-id", "night-1", "--store", store_url, "--no-model")
    args += ("--now", NOW, "--quiet", "--commit-every", "100")
    try:
        with corpus.path.open("rb") as stdin:
            proc = _start(*args, stdin=stdin)
            _kill_when(proc, lambda: _lines_done(reader, store_url), 300, 0.05, len(corpus.lines))
        done = _lines_done(reader, store_url)
        with corpus.path.open("rb") as stdin:
            resumed = _sevtriage(*args, "--resume", stdin=stdin)
        assert resumed.returncode == 1, resumed.stderr
        assert resumed.stdout == b"".join(corpus.reference[done:])
        _assert_store_holds_lines(reader, corpus, len(corpus.lines))
    finally:
        reader.dispose()


def test_a_finished_run_is_not_repeated_and_a_restart_stores_nothing_twice(
    corpus: Corpus, store_url: str, reader: Engine, tmp_path: Path
) -> None:
    """Same input again: nothing done, the run's exit status; --restart: re-classified, the
    output rewritten, no ticket stored again."""
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"".join(line + b"\n" for line in corpus.lines[:300]))
    out = tmp_path / "out.jsonl"
    args = ["classify", str(small), "--store", store_url, "-o", str(out), "--no-model"]
    args += ["--now", NOW]
    first = _sevtriage(*args)
    assert first.returncode == 1, first.stderr
    assert b"stored " in first.stderr
    written = out.read_bytes()
    assert written == b"".join(corpus.reference[:300])

    again = _sevtriage(*args)
    assert again.returncode == 1 and b"already classified" in again.stderr
    assert b"--restart" in again.stderr

    restarted = _sevtriage(*args, "--restart")
    assert restarted.returncode == 1, restarted.stderr
    assert b"stored 0 new tickets" in restarted.stderr
    assert out.read_bytes() == written
    ids, per_ticket = _stored(reader)
    assert set(ids) == corpus.valid_ids(300)
    assert all(len(d) == 1 for d in per_ticket.values())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--resume"], b"--store"),
        (["--commit-every", "10"], b"--store"),
        (["--store", "x.db", "--engine", "dask"], b"--engine dask"),
        (["--store", "x.db", "--resume", "--restart"], b"exclude each other"),
        (["--store", "x.db", "--run-id", "a b"], b"--run-id"),
        (["--store", "mysql://u@h/db"], b"--store"),
        (["--store", "sqlite:////no/such/dir/x.db"], b"the store failed"),
    ],
)
def test_store_options_are_refused_where_they_cannot_work(
    args: list[str], expected: bytes, tmp_path: Path
) -> None:
    """A clear message naming the option, exit status 2, no traceback, no output file."""
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps({"id": "A", "body": "The inbox is down."}) + "\n")
    out = tmp_path / "out.jsonl"
    proc = _sevtriage("classify", str(src), "-o", str(out), "--no-model", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert b"Traceback" not in proc.stderr
    assert not out.exists() or out.read_bytes() == b""


def test_a_second_process_on_the_same_run_cannot_commit(store_url: str) -> None:
    """Two writers of one run: the progress moves only from where each read it (RunConflict)."""
    store = Store.open(store_url)
    log = BatchLog(store)
    try:
        now = datetime(2025, 6, 2, 9, tzinfo=UTC)
        run = log.start(BatchRun("id:x", "-", None, "jsonl", "-", {}, now, now, now))
        first = log.commit(run, [], lines_done=10, output_bytes=100, counts={}, actor="a", at=now)
        with pytest.raises(RunConflict, match="another process"):
            log.commit(run, [], lines_done=10, output_bytes=100, counts={}, actor="b", at=now)
        log.commit(first, [], lines_done=20, output_bytes=200, counts={}, actor="a", at=now)
        loaded = log.load("id:x")
        assert loaded is not None and loaded.lines_done == 20 and loaded.output_bytes == 200
    finally:
        store.close()


def test_the_batch_stores_a_ticket_exactly_as_the_service_does(
    server: Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Same ticket, same now, same rules: the same ticket row and intake decision (but the actor)."""
    ticket = {
        "id": "S-1",
        "subject": "Inbox down",
        "body": "Nobody can log in since 9am, no workaround.",
        "plan": "business_plus",
        "created_at": "2025-03-03T14:10:00+01:00",
        "timezone": "Europe/Madrid",
        "country": "ES",
        "tags": ["vip"],
        "account": "kept in extra",
    }
    assert server.client.post("/v1/tickets", json=ticket, headers=BOT).status_code == 201
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps(ticket) + "\n")
    batch_url = f"sqlite:///{tmp_path / 'batch.db'}"
    now = server.clock.now.isoformat()
    proc = _sevtriage("classify", str(src), "--store", batch_url, "--no-model", "--now", now)
    assert proc.returncode == 0, proc.stderr

    def rows(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                row = dict(connection.execute(select(tickets)).one()._mapping)
                decision = dict(connection.execute(select(decisions)).one()._mapping)
        finally:
            engine.dispose()
        del row["received_by"], decision["actor"], decision["seq"]
        return row, decision

    assert rows(batch_url) == rows(server.database_url)


def test_a_ticket_created_after_the_runs_now_is_refused_as_the_service_refuses_it(
    server: Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The service answers 422 'in_future' for created_at after its now; classify --store writes
    the same error as the ticket's line and stores nothing for it (the others are stored)."""
    now = server.clock.now
    later = {"id": "F-1", "body": "The inbox is down", "created_at": "2099-01-01T00:00:00Z"}
    fine = {"id": "F-2", "body": "The inbox is down", "created_at": now.isoformat()}
    refused = server.client.post("/v1/tickets", json=later, headers=BOT)
    assert refused.status_code == 422 and "in_future" in refused.text
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps(later) + "\n" + json.dumps(fine) + "\n")
    url = f"sqlite:///{tmp_path / 'batch.db'}"
    proc = _sevtriage("classify", str(src), "--store", url, "--no-model", "--now", now.isoformat())
    assert proc.returncode == 1, proc.stderr  # some lines failed
    first, second = (json.loads(line) for line in proc.stdout.decode().splitlines())
    assert first["id"] == "F-1" and first["line"] == 1
    assert first["error"]["code"] == "in_future" and first["error"]["field"] == "created_at"
    assert second["id"] == "F-2" and "severity" in second
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            assert [r.id for r in connection.execute(select(tickets))] == ["F-2"]
    finally:
        engine.dispose()
