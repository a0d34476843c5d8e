"""Reloading ``sevtriage serve --workers N``: a reload reaches every worker, not only the one that
answered the request, and SIGHUP to the supervising process reloads the workers in place (same
pids) instead of replacing them, so a refused file leaves every worker serving its last good
versions. The servers are real ``sevtriage serve --workers 2`` processes on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sevtriage.service.workers import ReloadChannel
from tests.service.test_hostile_http import AUTH, ServerProcess, server_process
from tests.service.test_reload import ADMIN, ADMIN_TOKEN, DATA_LOSS, REPO, _edit, _explained, _lock

WORKERS = 2
CONVERGE_SECONDS = 15.0
OLD_TEXT = "backup (P1)."


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    """``sevtriage serve --workers 2 --no-model`` on a copy of the rules, with an admin token
    (and its temporary files in ``tmp_path / "tmp"``)."""
    rules, temporary = tmp_path / "rules", tmp_path / "tmp"
    shutil.copytree(REPO / "rules", rules)
    temporary.mkdir()
    env = {
        "SEVTRIAGE_RULES_DIR": str(rules),
        "SEVTRIAGE_ADMIN_TOKENS": f"ops:{ADMIN_TOKEN}",
        "TMPDIR": str(temporary),
    }
    with server_process(tmp_path, "--workers", str(WORKERS), "--no-model", env=env) as server:
        yield server, rules


def _each_worker(
    server: ServerProcess, done: Callable[[dict[str, Any]], bool], what: str
) -> dict[int, dict[str, Any]]:
    """``GET /v1/versions`` on a new connection each time (so every worker gets to answer) until
    ``WORKERS`` distinct pids have answered and the latest answer of each satisfies ``done``;
    returns that answer per pid. Fails after ``CONVERGE_SECONDS`` with what each one said."""
    latest: dict[Any, dict[str, Any]] = {}
    rules_answered: Counter[str] = Counter()
    deadline = time.monotonic() + CONVERGE_SECONDS
    while time.monotonic() < deadline:
        status: dict[str, Any] = httpx.get(f"{server.url}/v1/versions", timeout=10).json()
        latest[status.get("pid")] = status
        rules_answered[status["versions"]["rules"]] += 1
        if len(latest) == WORKERS and all(done(s) for s in latest.values()):
            return latest
        time.sleep(0.02)
    raise AssertionError(
        f"{what}: not every one of {WORKERS} workers did within {CONVERGE_SECONDS:.0f} s.\n"
        f"Rules versions answered meanwhile: {dict(rules_answered)}\n"
        f"Last answer per worker pid: {latest}\n{server.log.read_text()[-3000:]}"
    )


def _classify_fresh(server: ServerProcess, ticket_id: str) -> dict[str, Any]:
    """Triage one ticket on a new connection (whichever worker accepts it)."""
    ticket = {"id": ticket_id, "body": DATA_LOSS}
    response = httpx.post(f"{server.url}/v1/tickets", json=ticket, headers=AUTH, timeout=30)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_a_reload_in_one_worker_reaches_every_worker_and_a_refused_one_reaches_none(
    workers: tuple[ServerProcess, Path],
) -> None:
    """One POST /v1/admin/reload (or SIGHUP to one worker) reloads them all; a refused POST
    asks nobody else to reload."""
    server, rules = workers
    before = _each_worker(server, lambda s: True, "answer at start")
    old_rules = next(iter(before.values()))["versions"]["rules"]
    assert all(s["versions"]["rules"] == old_rules for s in before.values())
    assert all(s["generation"] == 0 for s in before.values())

    _edit(rules, OLD_TEXT, "backup (P1, v2).")  # not re-locked: refused where it is tried
    refused = httpx.post(f"{server.url}/v1/admin/reload", headers=ADMIN, timeout=30)
    assert refused.status_code == 409, refused.text

    _lock(rules)
    reloaded = httpx.post(f"{server.url}/v1/admin/reload", headers=ADMIN, timeout=30)
    assert reloaded.status_code == 200, reloaded.text
    answer = reloaded.json()
    assert answer["changed"] == ["rules"] and answer["pid"] in before
    assert answer["generation"] == 1  # the refused reload did not count
    new_rules = answer["versions"]["rules"]

    after = _each_worker(
        server,
        lambda s: s["versions"]["rules"] == new_rules and s["generation"] == 1,
        f"take the new rules {new_rules} after one POST /v1/admin/reload",
    )
    assert set(after) == set(before)
    # Every worker ends on the good files, the one that refused them first included.
    assert all(s["last_reload_error"] is None for s in after.values())
    for n in range(2 * WORKERS):
        triaged = _classify_fresh(server, f"W-{n}")
        assert triaged["versions"]["rules"] == new_rules
        assert _explained(triaged).endswith("backup (P1, v2).")

    _edit(rules, "backup (P1, v2).", "backup (P1, v3).")
    _lock(rules)
    one = answer["pid"]
    os.kill(one, signal.SIGHUP)
    signalled = _each_worker(
        server,
        lambda s: s["versions"]["rules"] not in (old_rules, new_rules) and s["generation"] == 2,
        f"take the rules edited again after SIGHUP to worker {one}",
    )
    assert set(signalled) == set(before)
    assert _explained(_classify_fresh(server, "W-last")).endswith("backup (P1, v3).")
    assert server.process.poll() is None
    assert "Traceback" not in server.log.read_text()


def test_sighup_to_the_supervisor_reloads_the_workers_in_place(
    workers: tuple[ServerProcess, Path],
) -> None:
    """A corrupt file: every worker refuses it and keeps serving; a good file: every worker
    takes it. The worker processes are the same throughout."""
    server, rules = workers
    before = _each_worker(server, lambda s: True, "answer at start")
    old_versions = next(iter(before.values()))["versions"]
    severity = rules / "severity.yaml"
    good = severity.read_bytes()
    severity.write_bytes(good[: len(good) // 2])  # truncated

    os.kill(server.process.pid, signal.SIGHUP)
    refused = _each_worker(
        server,
        lambda s: s["last_reload_error"] is not None,
        "refuse the truncated rules file after SIGHUP to the supervisor",
    )
    assert set(refused) == set(before)  # the same processes
    for status in refused.values():
        assert status["versions"] == old_versions and status["generation"] == 0
        error = status["last_reload_error"]
        assert error["trigger"].startswith(f"SIGHUP to the supervisor [{server.process.pid}]")
        assert {p["file"] for p in error["problems"]} == {str(severity)}
        assert "integrity" in {p["code"] for p in error["problems"]}
    for n in range(2 * WORKERS):
        kept = _classify_fresh(server, f"K-{n}")
        assert kept["versions"] == old_versions and _explained(kept).endswith(OLD_TEXT)

    severity.write_bytes(good)
    _edit(rules, OLD_TEXT, "backup (P1, v3).")
    _lock(rules)
    os.kill(server.process.pid, signal.SIGHUP)
    taken = _each_worker(
        server,
        lambda s: s["versions"]["rules"] != old_versions["rules"] and s["generation"] == 2,
        "take the fixed rules after a second SIGHUP to the supervisor",
    )
    assert set(taken) == set(before)
    assert all(s["last_reload_error"] is None for s in taken.values())
    assert _explained(_classify_fresh(server, "K-fixed")).endswith("backup (P1, v3).")
    assert server.process.poll() is None
    log = server.log.read_text()
    assert "Traceback" not in log and "refused" in log

    server.process.terminate()
    assert server.process.wait(timeout=30) == 0
    assert list((rules.parent / "tmp").iterdir()) == []  # the reload channel went with it


def test_the_channel_counts_every_bump_once_under_concurrent_bumps(tmp_path: Path) -> None:
    """Bumps from several threads (each with its own lock file handle, as separate processes
    have) are serialised: none is lost, and a reader never sees a partly written counter."""
    with ReloadChannel.created(tmp_path) as channel:
        assert channel.read().number == 0
        seen: list[int] = []

        def bump() -> None:
            for n in range(50):
                seen.append(channel.bump(f"test {n}"))

        threads = [threading.Thread(target=bump) for _ in range(4)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            assert 0 <= channel.read().number <= 200
        for thread in threads:
            thread.join()
        assert channel.read().number == 200 and sorted(seen) == list(range(1, 201))
        path = channel.path
    assert not path.parent.exists()  # the private directory is removed with the channel
