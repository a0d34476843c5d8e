"""Every performance figure of issue 6 on one generated corpus, in one table with its target.

    .venv/bin/python bench/run_all.py [--n 100000] [--http-seconds 60] [--skip-http]

Generates N tickets (seed 7, both languages, all severities, bodies of 20 to 5,000 characters),
then runs each benchmark script with ``--json`` and prints one table: classify throughput on
one core and its ratio to the bare model, in-process latency, HTTP latency at 300 req/s and the
highest rate held with p99 under 50 ms, training time on the corpus, model size, peak RSS of the
service. Nothing is asserted: the table says which targets are met on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SEVTRIAGE = Path(sys.executable).parent / "sevtriage"


def _json_of(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _train(corpus: Path, out: Path) -> dict[str, Any]:
    command = [str(SEVTRIAGE), "train", str(corpus), "--out", str(out), "--no-holdout"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    return {"train_seconds": round(seconds, 1), "model_kb": round(out.stat().st_size / 1024)}


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def _row(name: str, value: Any, unit: str, target: str, met: bool | None) -> tuple[str, ...]:
    shown = f"{value:,}" if isinstance(value, int) else str(value)
    verdict = "" if met is None else ("met" if met else "NOT met")
    return (name, f"{shown} {unit}".strip(), target, verdict)


def table(figures: dict[str, Any]) -> list[tuple[str, ...]]:
    f = figures
    rounds = f.get("cli_to_bare_ratio_rounds") or [f["cli_to_bare_ratio"]]
    rows = [
        _row(
            "classify, 1 core, end-to-end (CLI)",
            f["cli_tickets_per_s"],
            "tickets/s",
            ">= 20,000",
            f["cli_tickets_per_s"] >= 20_000,
        ),
        _row("  the same in-process", f["inprocess_tickets_per_s"], "tickets/s", "", None),
        _row("  bare vectoriser + predict", f["bare_model_texts_per_s"], "texts/s", "", None),
        _row(
            "  ratio end-to-end / bare model: best runs (each round)",
            f"{f['cli_to_bare_ratio']} ({', '.join(map(str, rounds))})",
            "",
            ">= 0.5 (median round)",
            statistics.median(rounds) >= 0.5,
        ),
        _row(
            "single ticket in-process p50 / p99, fresh triager",
            f"{f['single_p50_ms']} / {f['single_p99_ms']}",
            "ms",
            "p99 <= 2",
            f["single_p99_ms"] <= 2.0,
        ),
    ]
    if "single_warm_p99_ms" in f:
        rows.append(
            _row(
                "  after warm_up with 5,000 other tickets (steady state)",
                f"{f['single_warm_p50_ms']} / {f['single_warm_p99_ms']}",
                "ms",
                "p99 <= 2",
                f["single_warm_p99_ms"] <= 2.0,
            )
        )
    if "http_p99_ms" in f:
        rows += [
            _row(
                f"HTTP POST /v1/tickets p50 / p99 at {f.get('http_target_rate', 300)} req/s",
                f"{f['http_p50_ms']} / {f['http_p99_ms']}",
                f"ms (answered {f.get('http_rate')} req/s)",
                "p99 <= 15",
                f["http_p99_ms"] <= 15.0,
            ),
            _row(
                "highest rate with p99 < 50 ms",
                f.get("http_max_rate_p99_under_50ms", "?"),
                "req/s",
                "",
                None,
            ),
            _row(
                "service peak RSS",
                f["service_peak_rss_mb"],
                "MB",
                "<= 300",
                f["service_peak_rss_mb"] <= 300,
            ),
        ]
    rows += [
        _row(
            f"training on {f['tickets']:,} tickets (5-fold CV + fit)",
            f["train_seconds"],
            "s",
            "<= 60",
            f["train_seconds"] <= 60,
        ),
        _row("model size on disk", f["model_kb"], "KB", "", None),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--http-seconds", type=int, default=60)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--json", action="store_true", help="the figures as one JSON object")
    args = parser.parse_args()
    python = sys.executable
    figures: dict[str, Any] = {"machine": _machine()}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        generator = REPO / "data" / "tools" / "generate_corpus.py"
        generate = [python, str(generator), "--n", str(args.n), "--seed", "7", "--long-tail"]
        subprocess.run([*generate, "--out", str(corpus)], check=True)
        classify = [python, str(BENCH / "bench_classify.py"), "--corpus", str(corpus), "--json"]
        figures.update(_json_of(classify))
        if not args.skip_http:
            http = [python, str(BENCH / "bench_http.py"), "--json"]
            http += ["--rate", "300", "--seconds", str(args.http_seconds), "--find-max"]
            figures.update(_json_of(http))
        figures.update(_train(corpus, Path(tmp) / "model.joblib"))
    if args.json:
        print(json.dumps(figures))
        return
    rows = table(figures)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"sevtriage benchmarks on {figures['tickets']:,} generated tickets; {figures['machine']}")
    for row in rows:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    if figures.get("notes"):
        print(f"notes: {figures['notes']}")


if __name__ == "__main__":
    main()
