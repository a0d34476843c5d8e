"""Write transactions on a real database: JSON columns read back as the stdlib's text did, and on
SQLite the writers' kept connection and driver-level transactions commit, roll back and recover
as ``Engine.begin`` did."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from sevtriage.store import NewDecision, NewTicket, Store, engine, schema
from sevtriage.store.store import decision_row

NOW = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)

# What both databases store in a JSON column (no NaN or infinity, no lone surrogate, no NUL: PostgreSQL's
# json refuses them whatever writes the text), in a list or an object as the columns hold them
# (a bare number meets SQLite's numeric affinity: 0.0 reads back 0, whatever wrote it).
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=10)
CONTAINERS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
).map(lambda value: [value])
VALUES = CONTAINERS | st.dictionaries(TEXT, CONTAINERS, max_size=3)


def same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    try:
        yield opened
    finally:
        opened.close()


def _decision(kind: str = "intake", **values: Any) -> NewDecision:
    return NewDecision(kind, "P3", "rules", 0.9, needs_review=False, deadlines={}, **values)


def _intake(store: Store, ticket_id: str, decision: NewDecision | None = None) -> None:
    with store.writing("test", NOW) as writer:
        assert writer.create_ticket(NewTicket(ticket_id, NOW))
        writer.add_decision(ticket_id, decision or _decision())


_counter = iter(range(10**9))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(reasons=VALUES, signals=VALUES, deadlines=VALUES, extra=VALUES)
def test_json_columns_read_back_what_the_stdlib_encoding_read_back(
    store: Store, reasons: Any, signals: Any, deadlines: Any, extra: Any
) -> None:
    ticket_id = f"J-{next(_counter)}"
    content = {"id": ticket_id, "body": "x", "extra": extra}
    decision = NewDecision(
        "intake", "P3", "rules", 0.9, False, deadlines, None, reasons, signals, content=content
    )
    _intake(store, ticket_id, decision)
    history = store.history(ticket_id)
    assert history is not None
    stored = history.current
    for got, written in (
        (stored.reasons, reasons),
        (stored.signals, signals),
        (stored.deadlines, deadlines),
        (stored.content, content),
    ):
        assert same(got, json.loads(json.dumps(written)))


def test_a_decision_row_fills_every_column_of_decisions() -> None:
    """``decision_row`` names each field of a decision itself: a new field must be stored too."""
    row = decision_row("T-1", _decision(versions={"rules": "r", "model": None}), "a", NOW)
    assert set(row) == {c.name for c in schema.decisions.columns} - {"seq"}
    assert {f.name for f in fields(NewDecision)} - {"versions"} <= set(row)
    assert (row["rules_version"], row["model_version"], row["policy_version"]) == ("r", None, None)


def test_a_write_that_reads_through_sqlalchemy_commits_and_rolls_back_as_one(store: Store) -> None:
    """``lock`` (SQLAlchemy's own statements, its own transaction begun inside ours) and the
    driver-level inserts are committed together, and rolled back together."""
    _intake(store, "L-1")
    with store.writing("test", NOW) as writer:
        assert writer.lock("L-1").id == "L-1"
        writer.add_decision("L-1", _decision(kind="update"))
    with pytest.raises(RuntimeError), store.writing("test", NOW) as writer:
        writer.lock("L-1")
        writer.add_decision("L-1", _decision(kind="update", note="rolled back"))
        assert writer.create_ticket(NewTicket("L-2", NOW))
        raise RuntimeError("stop")
    history = store.history("L-1")
    assert history is not None
    assert [d.kind for d in history.decisions] == ["intake", "update"]
    assert store.history("L-2") is None and store.count_tickets() == 1
    _intake(store, "L-3")  # the store writes on
    assert store.count_tickets() == 2


def test_a_refused_insert_rolls_back_the_whole_transaction(store: Store) -> None:
    with pytest.raises(IntegrityError), store.writing("test", NOW) as writer:
        assert writer.create_ticket(NewTicket("R-1", NOW))
        writer.add_decision("no-such-ticket", _decision())
    assert store.count_tickets() == 0
    _intake(store, "R-1")
    assert store.count_tickets() == 1


def _sqlite(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'db'}")


def test_sqlite_writers_keep_one_connection_and_close_it_with_the_store(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    pool: Any = store.engine.pool
    try:
        _intake(store, "K-1")
        with store.writing("test", NOW) as writer:
            first = writer.connection
        with pytest.raises(IntegrityError), store.writing("test", NOW) as writer:
            writer.add_decision("no-such-ticket", _decision())
        with store.writing("test", NOW) as writer:
            assert writer.connection is first  # a rolled-back transaction leaves it idle
        assert pool.checkedout() == 1
    finally:
        store.close()
    assert pool.checkedout() == 0 and first.closed


def test_sqlite_a_connection_left_unusable_is_replaced(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    try:
        with pytest.raises(DBAPIError, match="closed"), store.writing("test", NOW) as writer:
            broken = writer.connection
            writer.create_ticket(NewTicket("B-1", NOW))
            broken.invalidate()  # the driver connection is closed under the transaction
        assert store.count_tickets() == 0
        _intake(store, "B-2")
        with store.writing("test", NOW) as writer:
            assert writer.connection is not broken
        assert store.count_tickets() == 1
    finally:
        store.close()


def test_sqlite_a_failed_commit_replaces_the_connection_left_in_its_transaction(
    tmp_path: Path,
) -> None:
    """A deferred foreign key fails the COMMIT, and SQLite keeps the transaction open."""
    store = _sqlite(tmp_path)
    try:
        with pytest.raises(IntegrityError), store.writing("test", NOW) as writer:
            failed = writer.connection
            failed.connection.driver_connection.execute("PRAGMA defer_foreign_keys=ON")
            writer.add_decision("no-such-ticket", _decision())
        _intake(store, "F-1")
        with store.writing("test", NOW) as writer:
            assert writer.connection is not failed
        history = store.history("F-1")
        assert history is not None and len(history.decisions) == 1
    finally:
        store.close()


def test_sqlite_a_locked_database_is_a_sqlalchemy_error_and_the_store_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BEGIN IMMEDIATE, issued on the driver, still fails as SQLAlchemy's OperationalError."""
    monkeypatch.setattr(engine, "SQLITE_BUSY_SECONDS", 0.05)
    store = _sqlite(tmp_path)
    other = sqlite3.connect(tmp_path / "db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked"), store.writing("test", NOW):
            pass
        other.execute("ROLLBACK")
        _intake(store, "W-1")
        assert store.count_tickets() == 1
    finally:
        other.close()
        store.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_idle_postgresql_connection_the_server_killed_is_replaced(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled connection idle for ``PING_IDLE_SECONDS`` is pinged before use: one the server
    has terminated is replaced and the write succeeds. Used without a ping, the dead connection
    fails that one write (the pool is then replaced and the next write succeeds)."""
    from sqlalchemy import create_engine, text

    store = Store.open(database_url)
    admin = create_engine(database_url)
    now = datetime.now(UTC)

    def backend() -> int:
        with store.engine.connect() as connection:
            return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def terminate(pid: int) -> None:
        # Waits (up to 10 s) until the backend has exited. Polling pg_stat_activity instead
        # would spin for ever: within one transaction it answers from a snapshot.
        with admin.connect() as connection:
            ended = text("SELECT pg_terminate_backend(:pid, 10000)")
            assert connection.execute(ended, {"pid": pid}).scalar_one(), f"{pid} still alive"

    def intake(ticket_id: str) -> None:
        with store.writing("test", now) as writer:
            assert writer.create_ticket(NewTicket(ticket_id, now))

    try:
        intake("K-1")
        killed = backend()
        terminate(killed)
        monkeypatch.setattr(engine, "PING_IDLE_SECONDS", 0.0)
        intake("K-2")  # pinged, found dead, replaced
        assert backend() != killed
        terminate(backend())
        monkeypatch.setattr(engine, "PING_IDLE_SECONDS", 3600.0)
        with pytest.raises(DBAPIError) as failed:
            intake("K-3")
        assert failed.value.connection_invalidated
        intake("K-3")
        assert store.count_tickets() == 3
    finally:
        store.close()
        admin.dispose()
