"""Connecting to the database and bringing its schema up to date.

SQLite (the default, a file in the working directory) runs in WAL mode with a busy timeout, and
every write transaction starts with ``BEGIN IMMEDIATE`` so two writers queue instead of failing
on a lock upgrade (within one process they queue on a lock first: see ``Store.writing``).
``synchronous=NORMAL``: a commit is appended to the WAL without waiting for the disk, and the WAL
is synced at each checkpoint. The database never corrupts, and a committed write survives the
crash or kill of the process; only a power loss or OS crash can lose the last commits before the
next checkpoint (``FULL`` would sync every commit: about 2 ms each on this machine's disk).
PostgreSQL is used as is (durability per its ``synchronous_commit``); ticket rows are locked with
``SELECT ... FOR UPDATE``. A pooled PostgreSQL connection is pinged before use only when it has
been idle for ``PING_IDLE_SECONDS`` (``_ping_when_idle``): a dead one (the server restarted,
an idle timeout) is then replaced transparently. A ping at every checkout (SQLAlchemy's
``pool_pre_ping``) cost a round trip per request: 0.25 ms of CPU and 0.4 ms of wall time per
intake, measured in process (1.01-1.12 -> 0.78-0.84 ms CPU). Under load connections go back to
work within milliseconds; a server that restarts under load fails the requests in flight, and
SQLAlchemy then replaces every pooled connection (a disconnect invalidates the pool).
Both write JSON columns with ``store.jsontext``.
Migrations run under a lock (a PostgreSQL advisory lock; SQLite's write lock), so several replicas
starting at once apply them exactly once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Dialect, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError

from sevtriage.errors import ConfigError, ConfigProblem
from sevtriage.store import jsontext

DEFAULT_DATABASE_URL = "sqlite:///sevtriage.db"
DATABASE_URL_ENV = "SEVTRIAGE_DATABASE_URL"
SQLITE_BUSY_SECONDS = 30.0
_MIGRATION_LOCK_ID = 0x5E7_7A1
# Execution option: a read-only connection takes no write lock on SQLite.
READ_ONLY = "sevtriage_read_only"


def database_url(env: dict[str, str] | None = None) -> str:
    """``$SEVTRIAGE_DATABASE_URL``, or a SQLite file ``sevtriage.db`` in the working directory."""
    environ = os.environ if env is None else env
    return environ.get(DATABASE_URL_ENV, "").strip() or DEFAULT_DATABASE_URL


def _sqlite_setup(engine: Engine, wal_autocheckpoint: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
        if wal_autocheckpoint is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        driver: Any = connection.connection.driver_connection
        if driver.in_transaction:
            return  # inside ``sqlite_write_transaction``: its BEGIN IMMEDIATE is the one
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        _driver_call(connection.dialect, driver, "BEGIN" if read_only else "BEGIN IMMEDIATE")


def _driver_call(dialect: Dialect, driver: Any, sql: str) -> None:
    """``sql`` (BEGIN, COMMIT or ROLLBACK) on the sqlite3 connection ``driver`` itself, a
    driver error raised as the ``sqlalchemy.exc`` error ``exec_driver_sql`` would raise.
    Through ``exec_driver_sql`` (an execution context and a result set up for a statement that
    returns nothing) a BEGIN took ~30 us of CPU more."""
    try:
        if sql == "COMMIT":
            driver.commit()
        elif sql == "ROLLBACK":
            driver.rollback()
        else:
            driver.execute(sql).close()
    except driver.Error as exc:
        raise DBAPIError.instance(sql, (), exc, driver.Error, dialect=dialect) from exc


@contextmanager
def sqlite_write_transaction(connection: Connection) -> Iterator[None]:
    """A SQLite write transaction on ``connection`` (pysqlite, outside any transaction) begun
    and ended on the driver: ``BEGIN IMMEDIATE``, then COMMIT when the block ends, ROLLBACK on
    an exception; ``Engine.begin`` did the same through SQLAlchemy's transaction objects and
    events. A statement the block runs through SQLAlchemy (``Connection.execute``) makes
    SQLAlchemy begin its own transaction on the connection: its BEGIN is skipped (``_on_begin``:
    the driver is already in this one) and it is the one committed or rolled back, so that
    SQLAlchemy's state and the database's stay one. COMMIT and ROLLBACK go to the driver
    connection that began: should the connection be invalidated meanwhile (its driver
    connection closed, the transaction lost), the COMMIT fails rather than reach a new one."""
    dialect = connection.dialect
    driver: Any = connection.connection.driver_connection
    _driver_call(dialect, driver, "BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if connection.in_transaction():
            connection.rollback()
        elif not connection.invalidated:
            _driver_call(dialect, driver, "ROLLBACK")
        raise
    if connection.in_transaction():
        connection.commit()
    else:
        _driver_call(dialect, driver, "COMMIT")


PING_IDLE_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout when it has been idle ``PING_IDLE_SECONDS`` or
    more; if the ping finds it disconnected, the pool drops it and checks out another
    (``DisconnectionError``, retried by the pool). A new connection is not pinged."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError(str(exc)) from exc
            raise


def make_engine(url: str, *, wal_autocheckpoint: int | None = None) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL); ``ConfigError`` for anything else.
    ``wal_autocheckpoint``: SQLite's pages in the WAL before a commit checkpoints it (default
    1000; see ``store.checkpoints``)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            [ConfigProblem(DATABASE_URL_ENV, "", f"{url!r} is not a database URL")]
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
            pool_size=8,
            max_overflow=32,
            json_serializer=jsontext.dumps,
        )
        _sqlite_setup(engine, wal_autocheckpoint)
        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(
            parsed,
            pool_size=10,
            max_overflow=30,
            json_serializer=jsontext.dumps,
        )
        _ping_when_idle(engine)
        return engine
    raise ConfigError(
        [
            ConfigProblem(
                DATABASE_URL_ENV,
                "",
                f"unsupported database {parsed.get_backend_name()!r}; use sqlite:///FILE or "
                "postgresql+psycopg://USER@HOST:PORT/DB",
            )
        ]
    )


def alembic_config() -> Config:
    """The packaged Alembic configuration (``script_location = sevtriage:migrations``)."""
    config = Config(str(files("sevtriage.migrations").joinpath("alembic.ini")))
    config.set_main_option("script_location", "sevtriage:migrations")
    return config


def take_migration_lock(connection: Connection) -> None:
    """Serialize migrations between processes for the rest of the transaction. SQLite needs
    nothing more: its write transactions (``BEGIN IMMEDIATE``) are already exclusive."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to ``revision`` on ``engine``, once even under races."""
    config = alembic_config()
    with engine.begin() as connection:
        take_migration_lock(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
