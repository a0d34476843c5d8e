"""Shared fixtures: the real rules loaded once per session (the engine is built once per process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sevtriage.triage import Triager

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def triager() -> Triager:
    return Triager(REPO / "rules")
