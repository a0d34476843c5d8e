"""The store outside HTTP: migrations match the schema, and reviews export as training data."""

from __future__ import annotations

import json
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from sevtriage.cli.service_commands import export_reviews
from sevtriage.store import Store
from sevtriage.store.schema import metadata
from tests.service.conftest import AGENT, BOT, Server


def test_migrations_build_exactly_the_declared_schema_and_rerun_as_no_op(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        Store.open(database_url).close()  # a second start migrates nothing
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        store.close()


def test_export_reviews_writes_labelled_examples_in_the_data_format(
    server: Server, tmp_path: Path
) -> None:
    ticket = {
        "id": "E-1",
        "subject": "Logo",
        "body": "Hola, el logo se ve distinto.",
        "plan": "pro",
        "timezone": "Europe/Madrid",
        "country": "ES",
    }
    server.client.post("/v1/tickets", json=[ticket, {**ticket, "id": "E-2"}], headers=BOT)
    server.client.post(
        "/v1/tickets/E-1/review",
        json={"action": "override", "severity": "P4", "reason": "cosmetic"},
        headers=AGENT,
    )
    out = tmp_path / "reviews.jsonl"
    result = CliRunner().invoke(
        export_reviews, ["-o", str(out), "--database-url", server.database_url]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert {k: row[k] for k in ("id", "subject", "body", "label")} == {
        "id": "E-1",
        "subject": "Logo",
        "body": "Hola, el logo se ve distinto.",
        "label": "P4",
    }
    assert row["language"] == "es"
    assert row["review"]["action"] == "overridden" and row["review"]["agent"] == "ana"
    assert row["review"]["previous_severity"] == "P3" and row["review"]["reason"] == "cosmetic"
