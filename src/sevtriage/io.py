"""Reading tickets (JSONL or CSV, files or stdin) and writing results (JSONL).

``read_records`` yields ``(line_number, record_or_error)`` for every input line (JSONL) or row
(CSV), so a bad line becomes an error record in its place and the batch goes on: blank lines,
invalid JSON, invalid UTF-8, ragged CSV rows and over-long lines included. Memory stays bounded:
an over-long line is skipped chunk by chunk, never held whole.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from typing import IO, Any, Literal

import orjson

from sevtriage.errors import InputError

Format = Literal["auto", "jsonl", "csv"]
MAX_LINE_BYTES = 4 * 1024 * 1024
Record = dict[str, Any] | InputError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _has_float(value: Any) -> bool:
    """Whether a parsed JSON value holds a float at any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            return True
    return False


def _parse_json_line(raw: bytes) -> Record:
    """One JSONL line as a record, or the error saying why not. orjson parses (a third of the
    time of ``json``); whatever it refuses, and anything holding a float (orjson turns an
    integer past 64 bits into one), is parsed by ``json``, whose reading and messages are the
    reference: lone surrogate escapes and huge integers are kept, then judged by the fields."""
    try:
        fast = orjson.loads(raw)
    except orjson.JSONDecodeError:
        fast = None
    if isinstance(fast, dict) and not _has_float(fast):
        return fast
    if not raw.strip():
        return InputError("blank_line", "the line is blank; expected one JSON object per line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return InputError(
            "invalid_utf8", f"byte {exc.start} is not valid UTF-8; re-encode the file as UTF-8"
        )
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return InputError("invalid_json", f"not valid JSON: {str(exc)[:200]}")
    if not isinstance(value, dict):
        return InputError(
            "not_an_object", f"each line must be a JSON object, got {type(value).__name__}"
        )
    return value


def _bounded_lines(stream: IO[bytes], max_bytes: int) -> Iterator[bytes | None]:
    """Lines of a binary stream; ``None`` for a line over ``max_bytes`` (skipped in chunks)."""
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(1024 * 1024)
            yield None
            continue
        yield line.rstrip(b"\r\n")


def read_jsonl(
    stream: IO[bytes], max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, Record]]:
    for number, raw in enumerate(_bounded_lines(stream, max_line_bytes), start=1):
        if raw is None:
            yield (
                number,
                InputError(
                    "too_large", f"the line is longer than {max_line_bytes} bytes and was skipped"
                ),
            )
        else:
            yield number, _parse_json_line(raw)


def _has_surrogates(value: str) -> bool:
    return any(0xDC80 <= ord(c) <= 0xDCFF for c in value)


def read_csv(
    stream: IO[bytes], max_field_chars: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, Record]]:
    """Rows of a CSV with a header line; the line number is where the row starts in the file."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    csv.field_size_limit(max_field_chars)
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield 1, InputError("invalid_csv", f"the header cannot be read: {exc}")
        return
    header = [h.strip() for h in header]
    row_start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield row_start, InputError("invalid_csv", f"the row cannot be parsed: {exc}")
            row_start = reader.line_num + 1
            continue
        line, row_start = row_start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            yield line, InputError("blank_line", "the row is blank")
        elif len(row) != len(header):
            yield (
                line,
                InputError(
                    "ragged_row", f"the row has {len(row)} fields but the header has {len(header)}"
                ),
            )
        elif bad := next((h for h, v in zip(header, row, strict=True) if _has_surrogates(v)), None):
            yield line, InputError("invalid_utf8", "contains bytes that are not valid UTF-8", bad)
        else:
            yield line, dict(zip(header, row, strict=True))


def sniff_format(stream: IO[bytes], name: str) -> Literal["jsonl", "csv"]:
    """By file extension, else by the first non-blank byte: ``{`` means JSONL."""
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    peek = getattr(stream, "peek", None)
    head = peek(4096)[:4096] if callable(peek) else b""
    stripped = head.lstrip(codecs.BOM_UTF8).lstrip()
    return "jsonl" if not stripped or stripped[:1] in (b"{", b"[") else "csv"


def read_records(
    stream: IO[bytes], fmt: Format = "auto", name: str = "-"
) -> Iterator[tuple[int, Record]]:
    """Every record of a JSONL or CSV stream, with its line number; bad lines as ``InputError``."""
    chosen = sniff_format(stream, name) if fmt == "auto" else fmt
    return read_csv(stream) if chosen == "csv" else read_jsonl(stream)


def dump_line(record: dict[str, Any]) -> str:
    """One JSON line (orjson: a sixth of ``json.dumps``'s time on a triage result); a record
    holding a lone surrogate, which orjson refuses, goes through ``json`` and is escaped."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE).decode("utf-8")
    except TypeError:
        return (
            json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            .encode("utf-8", "backslashreplace")
            .decode("utf-8")
            + "\n"
        )
