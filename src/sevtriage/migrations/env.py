"""Alembic environment: runs on the connection ``store.engine.migrate`` passes in, or on
``$SEVTRIAGE_DATABASE_URL`` when run by the ``alembic`` command (see ``alembic.ini``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from sevtriage.store.engine import database_url, make_engine, take_migration_lock
from sevtriage.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    url = context.config.get_main_option("sqlalchemy.url") or database_url()
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            take_migration_lock(connection)
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("sevtriage migrations run online only: alembic upgrade head")
run_online()
