"""Throughput and latency of the triage path. Prints a table; asserts nothing (machines are noisy).

    .venv/bin/python bench/bench_classify.py [--n 10000] [--model PATH|none]

Measures on N generated tickets (data/tools/generate_corpus.py, seed 7):
- ``sevtriage classify`` as a real process, file in -> file out (includes start-up);
- the same batch in-process through ``Triager.triage_records`` (no start-up);
- single-ticket in-process latency (p50/p99) through ``Triager.triage``;
- the bare model ``predict_proba`` on the same texts, when a model is used (the floor).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def generate(n: int, out: Path, seed: int = 7) -> None:
    script = REPO / "data" / "tools" / "generate_corpus.py"
    subprocess.run(
        [sys.executable, str(script), "--n", str(n), "--seed", str(seed), "--out", str(out)],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--model", default="default", help="'default', a path, or 'none'")
    args = parser.parse_args()

    from sevtriage.io import read_records
    from sevtriage.triage import Triager

    model = None
    if args.model != "none":
        from sevtriage.model import SeverityModel, default_model_path

        model_path = default_model_path() if args.model == "default" else Path(args.model)
        model = SeverityModel.load(model_path)
    triager = Triager(model=model)

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        generate(args.n, corpus)
        records = [r for _, r in read_records(corpus.open("rb"), "jsonl", str(corpus))]
        rows: list[tuple[str, str]] = []

        cmd = [
            str(Path(sys.executable).parent / "sevtriage"),
            "classify",
            str(corpus),
            "-o",
            str(Path(tmp) / "out.jsonl"),
            "--quiet",
        ]
        if args.model == "none":
            cmd += ["--no-model"]
        elif args.model != "default":
            cmd += ["--model", args.model]
        started = time.perf_counter()
        proc = subprocess.run(cmd, check=False, env=os.environ)
        cli_seconds = time.perf_counter() - started
        lines_out = sum(1 for _ in (Path(tmp) / "out.jsonl").open())
        rows.append(
            (
                "classify CLI (process, incl. start-up)",
                f"{args.n / cli_seconds:,.0f} tickets/s"
                f" ({cli_seconds:.2f} s, exit {proc.returncode}, {lines_out} lines out)",
            )
        )

        started = time.perf_counter()
        results = list(triager.triage_records(enumerate(records, 1)))
        batch_seconds = time.perf_counter() - started
        rows.append(
            ("batch in-process (triage_records)", f"{len(results) / batch_seconds:,.0f} tickets/s")
        )

        if model is not None:
            from sevtriage.model import model_text

            texts = [model_text(str(r.get("subject") or ""), str(r["body"])) for r in records]
            started = time.perf_counter()
            model.predict_proba(texts)
            bare = time.perf_counter() - started
            rows.append(
                ("bare model predict_proba (same texts)", f"{len(texts) / bare:,.0f} texts/s")
            )
            rows.append(("end-to-end / bare model ratio", f"{bare / batch_seconds:.2f}"))

        fresh = Triager(model=model)  # single-ticket path without a warm decision cache
        latencies = []
        for record in records[:2000]:
            started = time.perf_counter()
            fresh.triage(record)
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        rows.append(("single ticket in-process p50 / p99", f"{p50:.3f} ms / {p99:.3f} ms"))

        severities: dict[str, int] = {}
        for result in results:
            key = str(result.get("severity", "error"))
            severities[key] = severities.get(key, 0) + 1
        rows.append(("severity mix", json.dumps(dict(sorted(severities.items())))))

    width = max(len(name) for name, _ in rows)
    print(
        f"sevtriage bench_classify: n={args.n}, model={triager.versions['model']}, "
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores"
    )
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
