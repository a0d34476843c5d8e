"""Reloading the rules and model of a running service (POST /v1/admin/reload and SIGHUP): a
corrupt, truncated or unlocked file is refused and the service keeps classifying with the last
good versions; a good file is taken, and requests in flight finish on the versions they began with.
The end-to-end tests run ``sevtriage serve`` in its own process (SIGHUP needs the main thread)."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from sevtriage.cli import main
from sevtriage.importers import read_labelled
from sevtriage.model import card_path, save_model, train_model
from sevtriage.modelfile import linear_path
from sevtriage.service.app import create_app
from sevtriage.service.settings import Settings
from sevtriage.triage import Triager
from tests.service.conftest import BOT, TOKENS, Clock, Server, running
from tests.service.test_hostile_http import AUTH, ServerProcess, server_process

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "tok-admin-ops-0001"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DATA_LOSS = "We lost all our customer records, the data was deleted overnight."


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second valid model (another seed and data size): what a fixed model file becomes."""
    records = read_labelled([REPO / "data" / "train.jsonl"])[:400]
    pipeline, card = train_model(records, seed=7, folds=0)
    path = tmp_path_factory.mktemp("other") / "other.joblib"
    save_model(pipeline, card, path)
    return path


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path, Path]]:
    """``sevtriage serve`` on copies of the rules and the model, with an admin token."""
    rules, model = tmp_path / "rules", tmp_path / "model" / "m.joblib"
    shutil.copytree(REPO / "rules", rules)
    model.parent.mkdir()
    shutil.copyfile(REPO / "models" / "default.joblib", model)
    shutil.copyfile(REPO / "models" / "default.card.json", card_path(model))
    shutil.copyfile(REPO / "models" / "default.linear.zip", linear_path(model))
    env = {
        "SEVTRIAGE_RULES_DIR": str(rules),
        "SEVTRIAGE_MODEL": str(model),
        "SEVTRIAGE_ADMIN_TOKENS": f"ops:{ADMIN_TOKEN}",
    }
    with server_process(tmp_path, env=env) as server:
        yield server, rules, model


def _classify(client: httpx.Client, ticket_id: str, body: str = DATA_LOSS) -> dict[str, Any]:
    response = client.post("/v1/tickets", json={"id": ticket_id, "body": body}, headers=AUTH)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _reload(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/admin/reload", headers=ADMIN)


def _explained(answer: dict[str, Any]) -> str:
    """The explanation the data-loss rule gave: the tests edit it to see which rules answered."""
    [text] = [r["explanation"] for r in answer["reasons"] if r.get("rule") == "P1.data_loss"]
    return str(text)


def _edit(rules: Path, old: str, new: str) -> None:
    severity = rules / "severity.yaml"
    text = severity.read_text(encoding="utf-8")
    assert old in text
    severity.write_text(text.replace(old, new, 1), encoding="utf-8")


def _lock(rules: Path) -> None:
    result = CliRunner().invoke(main, ["rules-lock", "--rules-dir", str(rules)])
    assert result.exit_code == 0, result.output


def _wait_for(client: httpx.Client, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get("/v1/versions").json()
        if done(status):
            return status
        time.sleep(0.1)
    raise AssertionError(f"the reload did not happen: {status}")


def test_truncated_model_is_refused_on_reload_the_service_keeps_the_old_one(
    live: tuple[ServerProcess, Path, Path], other_model: Path
) -> None:
    server, _, model = live
    with httpx.Client(base_url=server.url, timeout=60) as c:
        before = c.get("/v1/versions").json()["versions"]
        assert _classify(c, "M-1")["versions"] == before
        model.write_bytes(model.read_bytes()[:50_000])

        refused = _reload(c)
        assert refused.status_code == 409
        problem = refused.json()["detail"][0]
        assert problem["code"] == "model_refused" and str(model) in problem["msg"]
        assert "does not match its card" in problem["msg"]
        assert refused.json()["versions"] == before

        still = _classify(c, "M-2")  # still classifies, with the model it had
        assert still["versions"] == before
        assert [r["model"] for r in still["reasons"] if r["kind"] == "model"] == [before["model"]]
        health = c.get("/healthz").json()
        assert health["status"] == "ok" and health["versions"] == before
        assert health["last_reload_error"]["problems"] == refused.json()["detail"]

        shutil.copyfile(other_model, model)  # a good model again: a new one, with its card
        shutil.copyfile(linear_path(other_model), linear_path(model))
        shutil.copyfile(card_path(other_model), card_path(model))
        reloaded = _reload(c)
        assert reloaded.status_code == 200, reloaded.text
        after = reloaded.json()
        assert after["changed"] == ["model"] and after["previous"] == before
        assert after["versions"]["model"] != before["model"]
        assert _classify(c, "M-3")["versions"] == after["versions"]
        status = c.get("/v1/versions").json()
        assert status["last_reload_error"] is None and status["reloads"] == 1
    assert server.process.poll() is None
    assert "Traceback" not in server.log.read_text()


def test_rules_edited_without_relocking_are_refused_by_reload_and_by_sighup(
    live: tuple[ServerProcess, Path, Path],
) -> None:
    server, rules, _ = live
    with httpx.Client(base_url=server.url, timeout=60) as c:
        before = c.get("/v1/versions").json()["versions"]
        assert _explained(_classify(c, "R-1")).endswith("backup (P1).")
        _edit(rules, "backup (P1).", "backup (P1, v2).")  # not re-locked

        refused = _reload(c)
        assert refused.status_code == 409
        [problem] = refused.json()["detail"]
        assert problem["code"] == "integrity" and problem["file"] == str(rules / "severity.yaml")
        assert "sevtriage rules-lock" in problem["msg"]
        kept = _classify(c, "R-2")
        assert kept["versions"] == before and _explained(kept).endswith("backup (P1).")

        _lock(rules)
        reloaded = _reload(c).json()
        assert reloaded["changed"] == ["rules"]
        taken = _classify(c, "R-3")
        assert taken["versions"] == reloaded["versions"]
        assert _explained(taken).endswith("backup (P1, v2).")

        # The same by SIGHUP: refused and remembered, then taken once locked.
        _edit(rules, "backup (P1, v2).", "backup (P1, v3).")
        os.kill(server.process.pid, signal.SIGHUP)
        status = _wait_for(c, lambda s: s["last_reload_error"] is not None)
        assert status["last_reload_error"]["trigger"] == "SIGHUP"
        assert status["versions"] == reloaded["versions"]
        assert _explained(_classify(c, "R-4")).endswith("backup (P1, v2).")

        _lock(rules)
        os.kill(server.process.pid, signal.SIGHUP)
        status = _wait_for(c, lambda s: s["versions"]["rules"] != reloaded["versions"]["rules"])
        assert status["last_reload_error"] is None and status["reloads"] == 2
        assert _explained(_classify(c, "R-5")).endswith("backup (P1, v3).")
    assert server.process.poll() is None
    log = server.log.read_text()
    assert "reload (SIGHUP) refused" in log and "Traceback" not in log


def test_reload_needs_an_admin_token(serve: Callable[..., Server]) -> None:
    server = serve(admin_tokens={ADMIN_TOKEN: "ops"})
    c = server.client
    assert c.post("/v1/admin/reload").status_code == 401
    writer = c.post("/v1/admin/reload", headers=BOT)
    assert writer.status_code == 403 and writer.json()["detail"][0]["code"] == "forbidden"
    reloaded = c.post("/v1/admin/reload", headers=ADMIN)
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["changed"] == []  # the same files: the same versions
    assert reloaded.json()["versions"]["model"] is None  # a rules-only service stays rules-only


def test_reload_over_http_is_off_without_admin_tokens(server: Server) -> None:
    refused = server.client.post("/v1/admin/reload", headers=ADMIN)
    assert refused.status_code == 403
    assert "SEVTRIAGE_ADMIN_TOKENS" in refused.json()["detail"][0]["msg"]


class _Gated(Triager):
    """A triager whose batches wait at a gate once armed (not in its warm-up), so a request can
    be held in flight."""

    def __init__(self, rules_dir: Path) -> None:
        super().__init__(rules_dir)
        self.armed, self.entered, self.release = False, threading.Event(), threading.Event()

    def triage_records(
        self, records: Iterable[tuple[int, Any]], now: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        if self.armed:
            self.entered.set()
            assert self.release.wait(30)
        return super().triage_records(records, now)


def test_a_request_in_flight_finishes_on_the_triager_it_started_with(
    database_url: str, clock: Clock, tmp_path: Path
) -> None:
    """A reload between a request's start and end does not change that request's versions;
    the next request gets the new ones."""
    edited = tmp_path / "rules"
    shutil.copytree(REPO / "rules", edited)
    _edit(edited, "confidence: 0.9\n", "confidence: 0.91\n")
    _lock(edited)
    old = _Gated(REPO / "rules")
    settings = Settings(database_url, tokens=dict(TOKENS), admin_tokens={ADMIN_TOKEN: "ops"})
    app = create_app(settings, now=clock, triager=old, loader=lambda: Triager(edited))
    old.armed = True
    answers: list[httpx.Response] = []
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as c:
        # The held request is a batch of one: it runs in the threadpool, where a held triage
        # holds a thread. A single ticket may run on the event loop's thread (service.fastpath),
        # which it would hold; the later single, with a thread busy, takes the intake lane.
        def held() -> None:
            with httpx.Client(base_url=url, timeout=60) as other:
                batch = [{"id": "IF-1", "body": DATA_LOSS}]
                answers.append(other.post("/v1/tickets", json=batch, headers=BOT))

        thread = threading.Thread(target=held)
        thread.start()
        assert old.entered.wait(30)
        reloaded = c.post("/v1/admin/reload", headers=ADMIN).json()
        assert reloaded["changed"] == ["rules"]
        ticket = {"id": "IF-2", "body": DATA_LOSS}
        later = c.post("/v1/tickets", json=ticket, headers=BOT).json()
        old.release.set()
        thread.join(30)
    assert later["versions"] == reloaded["versions"] and later["confidence"] == 0.91
    [response] = answers
    assert response.status_code == 200
    [first] = response.json()["tickets"]
    assert first["versions"] == reloaded["previous"] and first["confidence"] == 0.9
