"""Cost of ``sevtriage classify --store`` and of resuming a killed run. Prints a table; asserts
nothing (machines are noisy).

    .venv/bin/python bench/bench_store.py [--n 100000] [--model default|none|PATH]
        [--commit-every 1000] [--database-url URL] [--kill-at 0.5] [--json]

On N generated tickets with long-tail bodies (20-5,000 characters; data/tools/generate_corpus.py
--long-tail, seed 7), each a real ``sevtriage classify`` process, file in -> file out:
1. without ``--store`` (the baseline);
2. with ``--store`` on a fresh SQLite file (or ``--database-url``);
3. with ``--store`` again on another fresh store, SIGKILLed once ``--kill-at`` of the lines are
   committed, then ``--resume``d: the two processes' total against run 2 is the resume overhead
   (one more start-up, the fingerprint, skipping the committed lines, re-doing the uncommitted
   chunk); the resumed output is checked against run 2's;
4. the same command once more: a finished run is found and nothing is done (the fingerprint).
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NOW = "2026-12-02T09:00:00+00:00"  # after every generated created_at (November 2026)


def generate(n: int, out: Path, seed: int = 7) -> None:
    script = REPO / "data" / "tools" / "generate_corpus.py"
    subprocess.run(
        [
            sys.executable,
            str(script),
            "--n",
            str(n),
            "--seed",
            str(seed),
            "--out",
            str(out),
            "--long-tail",
        ],
        check=True,
    )


def classify_cmd(corpus: Path, out: Path, model: str, *extra: str) -> list[str]:
    cmd = [str(Path(sys.executable).parent / "sevtriage"), "classify", str(corpus)]
    cmd += ["-o", str(out), "--now", NOW, "--quiet", *extra]
    if model == "none":
        cmd.append("--no-model")
    elif model != "default":
        cmd += ["--model", model]
    return cmd


def timed(cmd: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.decode()}")
    return time.perf_counter() - started, proc.returncode


class Stores:
    """Fresh stores: SQLite files in ``tmp``, or new schemas of a PostgreSQL URL."""

    def __init__(self, tmp: Path, base_url: str | None) -> None:
        self.tmp, self.base_url = tmp, base_url
        self.schemas: list[str] = []

    def fresh(self, name: str) -> str:
        if self.base_url is None:
            return f"sqlite:///{self.tmp / f'{name}.db'}"
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        schema = f"bench_store_{uuid.uuid4().hex[:10]}"
        engine = create_engine(self.base_url)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        self.schemas.append(schema)
        url = make_url(self.base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def lines_done(self, url: str) -> int:
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            if not path.exists():
                return 0
            try:
                with sqlite3.connect(path) as conn:
                    row = conn.execute("SELECT max(lines_done) FROM batch_runs").fetchone()
            except sqlite3.OperationalError:  # the schema is not there yet
                return 0
            return int(row[0] or 0)
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import SQLAlchemyError

        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return int(
                    conn.execute(text("SELECT max(lines_done) FROM batch_runs")).scalar() or 0
                )
        except SQLAlchemyError:
            return 0
        finally:
            engine.dispose()

    def drop(self) -> None:
        if self.base_url is None or not self.schemas:
            return
        from sqlalchemy import create_engine, text

        engine = create_engine(self.base_url)
        with engine.begin() as conn:
            for schema in self.schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def killed_then_resumed(
    cmd: list[str], stores: Stores, url: str, kill_at: int
) -> tuple[float, float, int]:
    """Seconds of the killed process, of the resume, and the lines committed at the kill."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while stores.lines_done(url) < kill_at:
        if proc.poll() is not None:
            sys.exit(f"the run ended before line {kill_at}: use a smaller --kill-at")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = time.perf_counter() - started
    done = stores.lines_done(url)
    resumed, _ = timed([*cmd, "--resume"])
    return killed, resumed, done


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"n": args.n, "model": args.model}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = tmp / "corpus.jsonl"
        generate(args.n, corpus)
        figures["corpus_mb"] = round(corpus.stat().st_size / 1e6, 1)
        stores = Stores(tmp, args.database_url)
        try:
            plain, _ = timed(classify_cmd(corpus, tmp / "plain.jsonl", args.model))
            figures["plain_s"] = round(plain, 2)

            url = stores.fresh("clean")
            store_opts = ("--store", url, "--commit-every", str(args.commit_every))
            stored_cmd = classify_cmd(corpus, tmp / "stored.jsonl", args.model, *store_opts)
            stored, _ = timed(stored_cmd)
            figures["store_s"] = round(stored, 2)
            if url.startswith("sqlite:///"):
                db = Path(url.removeprefix("sqlite:///"))
                figures["store_mb"] = round(
                    sum(p.stat().st_size for p in db.parent.glob(f"{db.name}*")) / 1e6, 1
                )
            noop, _ = timed(stored_cmd)
            figures["finished_rerun_s"] = round(noop, 2)

            url = stores.fresh("killed")
            store_opts = ("--store", url, "--commit-every", str(args.commit_every))
            cmd = classify_cmd(corpus, tmp / "resumed.jsonl", args.model, *store_opts)
            killed, resumed, done = killed_then_resumed(
                cmd, stores, url, int(args.n * args.kill_at)
            )
            figures["killed_s"], figures["resume_s"] = round(killed, 2), round(resumed, 2)
            figures["killed_at_line"] = done
            figures["resume_overhead_s"] = round(killed + resumed - stored, 2)
            same = (tmp / "resumed.jsonl").read_bytes() == (tmp / "stored.jsonl").read_bytes()
            figures["resumed_output_identical"] = same
        finally:
            stores.drop()
    for key in ("plain", "store"):
        figures[f"{key}_tickets_per_s"] = round(args.n / figures[f"{key}_s"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--model", default="default", help="'default', a path, or 'none'")
    parser.add_argument("--commit-every", type=int, default=1000)
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite files)")
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of lines committed")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    figures = run(args)
    if args.json:
        print(json.dumps(figures))
        return
    backend = "PostgreSQL" if args.database_url else "SQLite"
    n = f"{args.n:,}"
    rows = [
        (f"classify {n} (no --store)", f"{figures['plain_tickets_per_s']:,} tickets/s", "plain_s"),
        (
            f"classify {n} --store ({backend})",
            f"{figures['store_tickets_per_s']:,} tickets/s",
            "store_s",
        ),
        ("same command again (finished run found)", "", "finished_rerun_s"),
        (f"killed at line {figures['killed_at_line']:,}", "", "killed_s"),
        ("then --resume to the end", "", "resume_s"),
        ("resume overhead (killed + resume - clean)", "", "resume_overhead_s"),
    ]
    print(f"bench_store: {n} long-tail tickets ({figures['corpus_mb']} MB), model={args.model}")
    width = max(len(label) for label, _, _ in rows)
    for label, rate, key in rows:
        print(f"  {label:<{width}}  {figures[key]:>7.2f} s  {rate}")
    if "store_mb" in figures:
        print(f"  store size: {figures['store_mb']} MB")
    print(f"  resumed output identical to the clean run's: {figures['resumed_output_identical']}")


if __name__ == "__main__":
    main()
