"""Connecting to the database and bringing its schema up to date.

SQLite (the default, a file in the working directory) runs in WAL mode with a busy timeout, and
every write transaction starts with ``BEGIN IMMEDIATE`` so two writers queue instead of failing
on a lock upgrade (within one process they queue on a lock first: see ``Store.writing``).
``synchronous=NORMAL``: a commit is appended to the WAL without waiting for the disk, and the WAL
is synced at each checkpoint. The database never corrupts, and a committed write survives the
crash or kill of the process; only a power loss or OS crash can lose the last commits before the
next checkpoint (``FULL`` would sync every commit: about 2 ms each on this machine's disk).
PostgreSQL is used as is (durability per its ``synchronous_commit``); ticket rows are locked with
``SELECT ... FOR UPDATE``.
Migrations run under a lock (a PostgreSQL advisory lock; SQLite's write lock), so several replicas
starting at once apply them exactly once.
"""

from __future__ import annotations

import os
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sevtriage.errors import ConfigError, ConfigProblem

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
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


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
        )
        _sqlite_setup(engine, wal_autocheckpoint)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_size=10, max_overflow=30, pool_pre_ping=True)
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
