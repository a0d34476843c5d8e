"""``sevtriage classify``: JSONL/CSV tickets in, one JSONL result or error record per line out."""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click

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
@click.option(
    "--rules-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Rules folder (default: $SEVTRIAGE_RULES_DIR or the bundled rules/).",
)
@click.option(
    "--now",
    "now_text",
    metavar="ISO-8601",
    help="The instant used as 'now' (reproducible runs); default: the current time.",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SEVTRIAGE_MODEL",
    show_envvar=True,
    help="Fallback model file (default: models/default.joblib); verified before use.",
)
@click.option("--no-model", is_flag=True, help="Rules only: do not load any fallback model.")
@click.option("--quiet", is_flag=True, help="No summary or progress bar on standard error.")
def classify(
    input_path: str,
    fmt: Format,
    output: Path | None,
    rules_dir: Path | None,
    now_text: str | None,
    model_path: Path | None,
    no_model: bool,
    quiet: bool,
) -> None:
    """Classify the tickets of INPUT (a .jsonl or .csv file, or - for standard input).

    Writes one JSON line per input line, in order: a triage result, or an error record
    {"id", "line", "error": {"code", "field", "message"}}. Exit status 0 when every line was
    classified, 1 when some lines were error records, 2 on a usage or configuration error.
    """
    now = _parse_now(now_text)
    triager = Triager(rules_dir, model=None if no_model else load_model(model_path))
    stream, name = _open_input(input_path)
    out: IO[str] = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    counts: Counter[str] = Counter()
    errors = total = 0
    started = time.perf_counter()
    progress = _progress(quiet)
    try:
        for result in triager.triage_records(read_records(stream, fmt, name), now):
            out.write(dump_line(result))
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
        if stream is not sys.stdin.buffer:
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
