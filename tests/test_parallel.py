"""``classify --engine dask`` on a real local cluster gives exactly the local engine's output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sevtriage.parallel import partition_offsets
from tests.hostile import hostile_jsonl_lines


def test_partition_offsets_cover_every_line_once(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"a\nbb\n\nccc\nd")
    assert partition_offsets(path, 2) == [(0, 5, 1), (5, 10, 3), (10, 11, 5)]


def test_dask_engine_matches_local_engine_line_for_line(tmp_path: Path) -> None:
    good = [
        json.dumps({"id": f"G-{i}", "body": text})
        for i, text in enumerate(
            ["The whole platform is down.", "¿Cómo agrego un agente?", "Broadcasts are very slow."]
            * 30
        )
    ]
    bad = [
        line.decode("utf-8", "replace") for line in hostile_jsonl_lines(60, seed=3, big_bodies=0)
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(good[:45] + bad + good[45:]) + "\n", encoding="utf-8")
    common = ["classify", "--no-model", "--quiet", "--now", "2026-11-25T10:00:00+00:00", str(path)]
    local = subprocess.run(
        [sys.executable, "-m", "sevtriage", *common], capture_output=True, check=False, timeout=120
    )
    dask = subprocess.run(
        [
            sys.executable,
            "-m",
            "sevtriage",
            *common,
            "--engine",
            "dask",
            "--workers",
            "2",
            "--partition-lines",
            "17",
        ],
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert b"Traceback" not in dask.stderr, dask.stderr[-2000:]
    assert dask.returncode == local.returncode
    assert dask.stdout.splitlines() == local.stdout.splitlines()
    assert len(dask.stdout.splitlines()) == 150
