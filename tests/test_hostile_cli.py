"""Hostile input through the real CLI: one output line per input line, no traceback, bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.hostile import hostile_jsonl_lines, ragged_csv

# Runs the CLI and, at exit, writes the process's own peak RSS (KiB, VmHWM) to the file named by
# SEVTRIAGE_PEAK_FILE. Not ru_maxrss: on Linux it survives execve, so a child forked from a large
# pytest process would report the parent's size.
_WRAPPER = (
    "import atexit, os\n"
    "def _peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            open(os.environ['SEVTRIAGE_PEAK_FILE'], 'w').write(line.split()[1])\n"
    "atexit.register(_peak)\n"
    "from sevtriage.cli import main\n"
    "main(prog_name='sevtriage')\n"
)


def _classify(
    path: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[bytes], list[dict[str, object]], float]:
    peak_file = path.with_suffix(".peak")
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "classify", "--no-model", "--quiet", *extra, str(path)],
        capture_output=True,
        check=False,
        timeout=300,
        env={**os.environ, "SEVTRIAGE_PEAK_FILE": str(peak_file)},
    )
    peak_mb = int(peak_file.read_text()) / 1024
    return proc, [json.loads(line) for line in proc.stdout.splitlines()], peak_mb


def test_10000_hostile_jsonl_lines_give_10000_records(tmp_path: Path) -> None:
    lines = hostile_jsonl_lines(10_000, seed=1)
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    proc, out, peak_mb = _classify(path)
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
    print(f"hostile CLI peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 150, f"peak RSS {peak_mb:.0f} MB: a 10 MB line must not be held many times"


def test_10000_row_ragged_csv_gives_one_record_per_row(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_bytes(ragged_csv(10_000, seed=2))
    proc, out, _ = _classify(path)
    assert b"Traceback" not in proc.stderr
    assert len(out) == 10_000
    codes = {r["error"]["code"] for r in out if "error" in r}  # type: ignore[index]
    assert codes == {"ragged_row", "blank_line", "empty_field"}


def test_nul_and_lone_surrogates_in_any_field_are_an_error_record_and_never_stored(
    tmp_path: Path,
) -> None:
    """Through classify --store (SQLite): text a store or a JSON answer cannot hold, in any
    field (not only id, subject and body), is an error naming the field; the rest is stored."""
    rows = [
        {"id": "ok-1", "body": "The inbox is down"},
        {"id": "bad-channel", "body": "x", "channel": "mail\u0000"},
        {"id": "bad-requester", "body": "x", "requester": "ana\u0000@x.io"},
        {"id": "bad-tags", "body": "x", "tags": ["vip", "a\u0000"]},
        {"id": "bad-extra", "body": "x", "account": {"name": "\u0000"}},
        {"id": "ok-2", "body": "How do I export contacts?", "account": {"name": "Acme"}},
    ]
    lines = [json.dumps(r) for r in rows]
    lines.insert(4, '{"id": "bad-surrogate", "body": "x", "requester": "\\udc80"}')
    source = tmp_path / "t.jsonl"
    source.write_text("\n".join(lines) + "\n")
    store = tmp_path / "s.db"
    proc, out, _ = _classify(source, "--store", f"sqlite:///{store}")
    assert b"Traceback" not in proc.stderr and proc.returncode == 1
    assert [r["id"] for r in out] == [r.split('"id": "')[1].split('"')[0] for r in lines]
    errors = {r["id"]: r["error"] for r in out if "error" in r}
    assert {k: v["field"] for k, v in errors.items()} == {
        "bad-channel": "channel",
        "bad-requester": "requester",
        "bad-surrogate": "requester",
        "bad-tags": "tags",
        "bad-extra": "account",
    }
    assert {v["code"] for v in errors.values()} == {"invalid_text", "invalid_utf8"}
    import sqlite3

    with sqlite3.connect(store) as connection:
        stored = sorted(r[0] for r in connection.execute("SELECT id FROM tickets"))
    assert stored == ["ok-1", "ok-2"]
