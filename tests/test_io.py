"""Reading tickets: one record or one error per input line, never a crash, never a loss."""

from __future__ import annotations

import io
import json

from sevtriage.errors import InputError
from sevtriage.io import read_records
from sevtriage.triage import Triager


def _run(
    triager: Triager, data: bytes, fmt: str = "auto", name: str = "-"
) -> list[dict[str, object]]:
    stream = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]
    return list(triager.triage_records(read_records(stream, fmt, name)))  # type: ignore[arg-type]


def test_every_bad_line_gets_one_error_record_in_place(triager: Triager) -> None:
    lines = [
        b'{"id": "ok-1", "body": "How do I add a new agent?"}',
        b"{not json",
        b'{"id": "no-body"}',
        b'{"id": "empty", "body": "   "}',
        b'{"id": ["x"], "body": "text"}',
        b'{"id": "num-body", "body": 42}',
        b"",
        b'{"id": "bad-utf8", "body": "caf\xe9 roto"}',
        json.dumps({"id": "huge", "body": "a" * 1_000_001}).encode(),
        b"[1, 2, 3]",
        b'{"id": "nan", "body": "x", "score": NaN}',
        b'{"id": "naive", "body": "x", "created_at": "2026-11-13T15:00:00"}',
        b'{"id": "zone", "body": "x", "timezone": "Mars/Olympus"}',
        b'{"id": "ok-2", "body": "La plataforma est\xc3\xa1 ca\xc3\xadda para todos."}',
    ]
    results = _run(triager, b"\n".join(lines) + b"\n")
    assert len(results) == len(lines)
    codes = [r["error"]["code"] if "error" in r else r["severity"] for r in results]  # type: ignore[index]
    assert codes == [
        "P4",
        "invalid_json",
        "missing_field",
        "empty_field",
        "wrong_type",
        "wrong_type",
        "blank_line",
        "invalid_utf8",
        "too_large",
        "not_an_object",
        "invalid_json",
        "naive_datetime",
        "unknown_timezone",
        "P1",
    ]
    by_line = {r["line"]: r for r in results if "error" in r}
    assert by_line[3]["id"] == "no-body" and by_line[3]["error"]["field"] == "body"  # type: ignore[index]
    assert by_line[5]["error"]["field"] == "id"  # type: ignore[index]
    assert by_line[9]["error"]["field"] == "body"  # type: ignore[index]


def test_csv_with_ragged_rows_and_multiline_bodies(triager: Triager) -> None:
    data = (
        "id,subject,body,plan\n"
        'C-1,Caída,"La plataforma está caída\npara todos, sin solución alternativa",business_plus\n'
        "C-2,too,many,fields,here\n"
        "C-3,,¿Cómo exporto mis contactos?,pro\n"
        ",,\n"
        "C-5,x,,pro\n"
    ).encode()
    results = _run(triager, data, name="tickets.csv")
    assert [r.get("line") for r in results if "error" in r] == [4, 6, 7]
    assert [r.get("severity") for r in results] == ["P1", None, "P4", None, None]
    assert results[1]["error"]["code"] == "ragged_row"  # type: ignore[index]
    assert results[4]["error"]["code"] == "empty_field"  # type: ignore[index]


def test_format_is_sniffed_from_the_first_byte() -> None:
    jsonl = io.BufferedReader(io.BytesIO(b'\n{"id": "a", "body": "b"}\n'))  # type: ignore[arg-type]
    records = list(read_records(jsonl))
    assert isinstance(records[0][1], InputError) and records[1][1] == {"id": "a", "body": "b"}
    csv_stream = io.BufferedReader(io.BytesIO(b"id,body\na,b\n"))  # type: ignore[arg-type]
    assert list(read_records(csv_stream)) == [(2, {"id": "a", "body": "b"})]


def test_overlong_line_is_skipped_without_losing_the_next(triager: Triager) -> None:
    from sevtriage.io import read_jsonl

    data = b'{"id": "a", "body": "' + b"x" * 3000 + b'"}\n{"id": "b", "body": "How do I log in?"}\n'
    stream = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]
    records = list(read_jsonl(stream, max_line_bytes=1000))
    assert isinstance(records[0][1], InputError) and records[0][1].code == "too_large"
    assert records[1] == (2, {"id": "b", "body": "How do I log in?"})
