"""Hostile input through the real CLI: one output line per input line, no traceback, bounded memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from tests.hostile import hostile_jsonl_lines, ragged_csv


def _classify(
    path: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[bytes], list[dict[str, object]]]:
    proc = subprocess.run(
        [sys.executable, "-m", "sevtriage", "classify", "--no-model", "--quiet", *extra, str(path)],
        capture_output=True,
        check=False,
        timeout=300,
    )
    return proc, [json.loads(line) for line in proc.stdout.splitlines()]


def test_10000_hostile_jsonl_lines_give_10000_records(tmp_path: Path) -> None:
    lines = hostile_jsonl_lines(10_000, seed=1)
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    proc, out = _classify(path)
    assert proc.returncode == 1  # some lines failed, none crashed the batch
    assert b"Traceback" not in proc.stderr
    assert len(out) == len(lines)
    assert [r.get("line") for r in out if "error" in r] == [
        i for i, r in enumerate(out, start=1) if "error" in r
    ]
    for record in out:
        assert ("error" in record) != ("severity" in record)
        if "error" in record:
            error = record["error"]
            assert isinstance(error, dict) and error["code"] and error["message"]
    big = [r for r in out if isinstance(r.get("error"), dict) and r["error"]["code"] == "too_large"]  # type: ignore[index]
    assert len(big) >= 3
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mb < 600, f"peak RSS {peak_mb:.0f} MB: a 10 MB line must not be held many times"


def test_10000_row_ragged_csv_gives_one_record_per_row(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_bytes(ragged_csv(10_000, seed=2))
    proc, out = _classify(path)
    assert b"Traceback" not in proc.stderr
    assert len(out) == 10_000
    codes = {r["error"]["code"] for r in out if "error" in r}  # type: ignore[index]
    assert codes == {"ragged_row", "blank_line", "empty_field"}
