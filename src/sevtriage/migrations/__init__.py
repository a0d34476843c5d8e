"""Alembic migrations of the sevtriage database (run at service start; see ``store.engine``)."""
