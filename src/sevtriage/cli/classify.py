"""``sevtriage classify``: JSONL/CSV tickets in, one JSONL result or error record per line out."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click

from sevtriage.cli.options import model_option, no_model_option, rules_dir_option
from sevtriage.errors import InputError
from sevtriage.io import Format, dump_line, read_records
from sevtriage.triage import Triager, load_model


def _open_input(path: str) -> tuple[IO[bytes], str]:
    if path == "-":
        return sys.stdin.buffer, "-"
    try:
        return open(path, "rb"), path
    except OSError as exc:
        raise click.BadParameter(
            f"cannot open {path!r}: {exc.strerror}", param_hint="INPUT"
        ) from None


def _summary(counts: Counter[str], errors: int, total: int, seconds: float) -> str:
    per_severity = " ".join(f"{sev}={counts.get(sev, 0)}" for sev in ("P1", "P2", "P3", "P4"))
    rate = total / seconds if seconds > 0 else 0.0
    return (
        f"sevtriage classify: {total} lines in, {total} out: {per_severity} errors={errors} "
        f"needs_review={counts.get('needs_review', 0)} in {seconds:.2f}s ({rate:,.0f} tickets/s)"
    )


@click.command()
@click.argument("input_path", metavar="INPUT", default="-")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    help="Input format; auto uses the file extension or the first byte.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write results here instead of standard output.",
)
@rules_dir_option
@click.option(
    "--now",
    "now_text",
    metavar="ISO-8601",
    help="The instant used as 'now' (reproducible runs); default: the current time.",
)
@model_option
@no_model_option
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: this process; dask: partitions of a JSONL file on a dask cluster.",
)
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler (default: a local cluster).")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=2,
    show_default=True,
    help="Worker processes of the local dask cluster.",
)
@click.option(
    "--partition-lines",
    type=click.IntRange(1),
    default=50_000,
    show_default=True,
    help="Input lines per dask partition.",
)
@click.option("--quiet", is_flag=True, help="No summary or progress bar on standard error.")
def classify(
    input_path: str,
    fmt: Format,
    output: Path | None,
    rules_dir: Path | None,
    now_text: str | None,
    model_path: Path | None,
    no_model: bool,
    engine: str,
    scheduler: str | None,
    workers: int,
    partition_lines: int,
    quiet: bool,
) -> None:
    """Classify the tickets of INPUT (a .jsonl or .csv file, or - for standard input).

    Writes one JSON line per input line, in order: a triage result, or an error record
    {"id", "line", "error": {"code", "field", "message"}}. Exit status 0 when every line was
    classified, 1 when some lines were error records, 2 on a usage or configuration error.
    """
    now = _parse_now(now_text)
    stream: IO[bytes] | None = None
    if engine == "dask":
        if input_path == "-" or fmt == "csv":
            raise click.BadParameter("--engine dask reads a JSONL file (not stdin or CSV)")
        from sevtriage.parallel import classify_on_dask

        lines: Iterator[tuple[str, dict[str, Any]]] = (
            (line, json.loads(line))
            for line in classify_on_dask(
                Path(input_path),
                rules_dir=rules_dir,
                model_path=model_path,
                use_model=not no_model,
                now_iso=now.isoformat(),
                scheduler=scheduler,
                workers=workers,
                lines_per_partition=partition_lines,
            )
        )
    else:
        triager = Triager(rules_dir, model=None if no_model else load_model(model_path))
        stream, name = _open_input(input_path)
        results = triager.triage_records(read_records(stream, fmt, name), now)
        lines = ((dump_line(result), result) for result in results)
    out: IO[str] = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    counts: Counter[str] = Counter()
    errors = total = 0
    started = time.perf_counter()
    progress = _progress(quiet)
    try:
        for text, result in lines:
            out.write(text)
            total += 1
            if "error" in result:
                errors += 1
            else:
                counts[result["severity"]] += 1
                counts["needs_review"] += bool(result["needs_review"])
            if progress is not None:
                progress.update(1)
    finally:
        if progress is not None:
            progress.close()
        if stream is not None and stream is not sys.stdin.buffer:
            stream.close()
        if output:
            out.close()
        else:
            out.flush()
    if not quiet:
        click.echo(_summary(counts, errors, total, time.perf_counter() - started), err=True)
    sys.exit(1 if errors else 0)


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    from sevtriage.ticket import parse_datetime

    try:
        parsed = parse_datetime(text, "--now")
    except InputError as exc:
        raise click.BadParameter(exc.message, param_hint="--now") from None
    if parsed is None:
        raise click.BadParameter("must not be empty", param_hint="--now")
    return parsed


def _progress(quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(unit=" tickets", file=sys.stderr, leave=False)
