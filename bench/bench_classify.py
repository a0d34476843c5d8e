"""Throughput and latency of the triage path. Prints a table; asserts nothing (machines are noisy).

    .venv/bin/python bench/bench_classify.py [--n 10000] [--long-tail] [--corpus FILE]
                                             [--model PATH|none] [--rounds 3] [--json]

On N generated tickets (data/tools/generate_corpus.py, seed 7; ``--long-tail``: bodies of 20 to
5,000 characters) or on ``--corpus``, everything pinned to ONE core (CPU 0) so the figures are
per core:
- ``sevtriage classify`` as a real process, file in -> file out (includes start-up);
- the same batch in-process through ``Triager.triage_records`` (no start-up);
- the bare vectoriser + model ``predict_proba`` (scikit-learn's pipeline) on the same texts in
  the same run (the floor of the text part), and the ratio of the end-to-end throughput to it;
  the CLI and the bare model alternate ``--rounds`` times and the best of each is kept (the
  machine's speed drifts over minutes), with the ratio of each round shown too;
  also the same model through ``sevtriage.fastlinear`` (what triage runs);
- single-ticket in-process latency (p50/p99) through ``Triager.triage``, in a fresh process
  (``--latency-of``) that holds what an API caller holds, not the whole batch: once with a
  fresh triager (its first 3,000 tickets: RE2 still building its automata's states), once in
  another process after ``Triager.warm_up`` with 5,000 other tickets (the steady state).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CPU = 0


def generate(n: int, out: Path, seed: int = 7, long_tail: bool = False) -> None:
    script = REPO / "data" / "tools" / "generate_corpus.py"
    command = [sys.executable, str(script), "--n", str(n), "--seed", str(seed), "--out", str(out)]
    subprocess.run(command + (["--long-tail"] if long_tail else []), check=True)


def _pin() -> None:
    """This process (and the children it starts) on one core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CPU})


def measure(corpus: Path, model_arg: str, out_dir: Path, rounds: int = 3) -> dict[str, Any]:
    from sevtriage.io import read_records
    from sevtriage.triage import Triager

    _pin()
    model = pipeline_model = None
    if model_arg != "none":
        from sevtriage.model import SeverityModel, default_model_path
        from sevtriage.triage import load_model

        path = default_model_path() if model_arg == "default" else Path(model_arg)
        model = load_model(path)  # what classify serves (the data form when there is one)
        pipeline_model = SeverityModel.load(path)  # scikit-learn's pipeline, for the floor
    triager = Triager(model=model)
    with corpus.open("rb") as stream:
        records = [r for _, r in read_records(stream, "jsonl", str(corpus))]
    n = len(records)
    figures: dict[str, Any] = {"tickets": n, "model": triager.versions["model"], "rounds": rounds}

    texts: list[str] = []
    chunks: list[list[str]] = []  # the chunks triage uses (``Triager.chunks``)
    if model is not None:
        from sevtriage.model import model_text

        for chunk in triager.chunks(enumerate(records)):
            chunks.append(
                [model_text(str(r.get("subject") or ""), str(r["body"])) for _, r in chunk]
            )
            texts += chunks[-1]

    # The CLI and the bare model alternate, ``rounds`` times: this machine's speed drifts over
    # minutes (other tenants), so one run of each can land in different weather. The best round
    # of each is reported, with their ratio and the ratio within each round.
    out = out_dir / "out.jsonl"
    command = [str(Path(sys.executable).parent / "sevtriage"), "classify", str(corpus)]
    command += ["-o", str(out), "--quiet"]
    if model_arg == "none":
        command.append("--no-model")
    elif model_arg != "default":
        command += ["--model", model_arg]
    cli_seconds: list[float] = []
    bare_seconds: list[float] = []
    for _ in range(rounds):
        if pipeline_model is not None:
            started = time.perf_counter()
            for chunk in chunks:
                pipeline_model.pipeline.predict_proba(chunk)  # scikit-learn's vectoriser + model
            bare_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        proc = subprocess.run(command, check=False)
        cli_seconds.append(time.perf_counter() - started)
        figures["cli_exit"] = max(figures.get("cli_exit", 0), proc.returncode)
    with out.open("rb") as lines:
        figures["cli_lines_out"] = sum(1 for _ in lines)
    seconds = min(cli_seconds)
    figures["cli_seconds"] = round(seconds, 2)
    figures["cli_tickets_per_s"] = round(n / seconds)
    figures["cli_tickets_per_s_rounds"] = [round(n / s) for s in cli_seconds]

    started = time.perf_counter()
    results = list(triager.triage_records(enumerate(records, 1)))
    batch = time.perf_counter() - started
    figures["inprocess_tickets_per_s"] = round(n / batch)

    if model is not None and bare_seconds:
        bare = min(bare_seconds)
        figures["bare_model_texts_per_s"] = round(len(texts) / bare)
        figures["bare_model_texts_per_s_rounds"] = [round(len(texts) / b) for b in bare_seconds]
        started = time.perf_counter()
        for chunk in chunks:
            model.predict_proba(chunk)  # what triage runs: sevtriage.fastlinear when it applies
        figures["fast_model_texts_per_s"] = round(len(texts) / (time.perf_counter() - started))
        figures["cli_to_bare_ratio"] = round(bare / seconds, 2)
        figures["cli_to_bare_ratio_rounds"] = [
            round(b / c, 2) for b, c in zip(bare_seconds, cli_seconds, strict=True)
        ]
        figures["inprocess_to_bare_ratio"] = round(bare / batch, 2)

    severities: dict[str, int] = {}
    for result in results:
        key = str(result.get("severity", "error"))
        severities[key] = severities.get(key, 0) + 1
    figures["severity_mix"] = dict(sorted(severities.items()))

    # Latency as a caller sees it: measured in a fresh process (pinned to the same core) that
    # loads what ``sevtriage.triage`` loads. This one holds the whole batch (N records and N
    # results: millions of objects each full garbage collection walks, 50-100 ms pauses) and
    # scikit-learn for the bare-model figure; neither is what a caller of the API carries.
    # Then in another fresh process, after a warm-up with other tickets (the steady state).
    del results, records
    command = [sys.executable, __file__, "--latency-of", str(corpus), "--model", model_arg]
    warm = min(WARM_UP_TICKETS, max(0, n - 3000))  # tickets not in the measured sample
    for extra in [[], ["--warm", str(warm)]] if warm else [[]]:
        run = subprocess.run([*command, *extra], check=True, stdout=subprocess.PIPE, text=True)
        figures.update(json.loads(run.stdout))
    return figures


ROWS = (
    ("sevtriage classify, process incl. start-up", "cli_tickets_per_s", "tickets/s"),
    ("batch in-process (triage_records)", "inprocess_tickets_per_s", "tickets/s"),
    ("bare vectoriser + predict_proba, same texts", "bare_model_texts_per_s", "texts/s"),
    ("the same model through sevtriage.fastlinear", "fast_model_texts_per_s", "texts/s"),
    ("ratio classify CLI / bare model (best rounds)", "cli_to_bare_ratio", ""),
    ("the same ratio within each round", "cli_to_bare_ratio_rounds", ""),
    ("ratio in-process / bare model", "inprocess_to_bare_ratio", ""),
    ("single ticket in-process p50, fresh triager", "single_p50_ms", "ms"),
    ("single ticket in-process p99, fresh triager", "single_p99_ms", "ms"),
    ("the same after warm_up with 5,000 others, p50", "single_warm_p50_ms", "ms"),
    ("the same after warm_up with 5,000 others, p99", "single_warm_p99_ms", "ms"),
)


WARM_UP_TICKETS = 5000


def latency(corpus: Path, model_arg: str, n: int = 3000, warm: int = 0) -> dict[str, float]:
    """p50/p99 of ``Triager.triage`` one ticket at a time over the first ``n`` tickets, with a
    fresh triager, in this process. ``warm``: first ``Triager.warm_up`` with that many other
    tickets of the corpus (the ones after the first ``n``): the steady state of a process that
    has served traffic, whose automata have built their states (``warm_up``'s docstring)."""
    from sevtriage.io import read_records
    from sevtriage.triage import Triager, load_model

    _pin()
    model = None
    if model_arg != "none":
        model = load_model(None if model_arg == "default" else Path(model_arg))
    with corpus.open("rb") as stream:
        read = itertools.islice(read_records(stream, "jsonl", str(corpus)), n + warm)
        records = [r for _, r in read]
    sample, others = records[:n], records[n:]
    fresh = Triager(model=model)
    if others:
        fresh.warm_up(others)
    latencies = []
    for record in sample:
        started = time.perf_counter()
        fresh.triage(record)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    prefix = "single_warm" if warm else "single"
    return {
        f"{prefix}_p50_ms": round(statistics.median(latencies), 3),
        f"{prefix}_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--long-tail", action="store_true", help="bodies of 20-5,000 characters")
    parser.add_argument("--corpus", type=Path, help="a JSONL corpus instead of generating one")
    parser.add_argument("--model", default="default", help="'default', a path, or 'none'")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--rounds", type=int, default=3, help="CLI and bare-model runs, alternated (best kept)"
    )
    parser.add_argument("--latency-of", type=Path, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--warm", type=int, default=0, help=argparse.SUPPRESS)  # the same
    args = parser.parse_args()
    if args.latency_of is not None:
        print(json.dumps(latency(args.latency_of, args.model, warm=args.warm)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if corpus is None:
            corpus = Path(tmp) / "corpus.jsonl"
            generate(args.n, corpus, long_tail=args.long_tail)
        figures = measure(corpus, args.model, Path(tmp), max(1, args.rounds))
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"sevtriage bench_classify: {figures['tickets']} tickets, model={figures['model']}, "
        f"python {sys.version.split()[0]}, pinned to CPU {CPU} of {os.cpu_count()}"
    )
    for name, key, unit in ROWS:
        if key in figures:
            value = figures[key]
            shown = f"{value:,}" if isinstance(value, int) else str(value)
            if isinstance(value, list):
                shown = ", ".join(str(v) for v in value)
            print(f"  {name:<44}  {shown} {unit}")
    print(f"  {'severity mix':<44}  {json.dumps(figures['severity_mix'])}")


if __name__ == "__main__":
    main()
