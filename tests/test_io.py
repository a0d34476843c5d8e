"""Reading tickets: one record or one error per input line, never a crash, never a loss."""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

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


def _json_reference(raw: bytes) -> object:
    """What a line means when read by ``json`` alone (the reference ``_parse_json_line``
    keeps): the value, or the kind of error."""
    from sevtriage.io import _reject_constant

    if not raw.strip():
        return ("error", "blank_line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ("error", "invalid_utf8")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return ("error", "invalid_json")
    return value if isinstance(value, dict) else ("error", "not_an_object")


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=6).map(
        lambda d: json.dumps(d).encode()
    )
    | st.sampled_from(
        [
            b'{"a": NaN}',
            b'{"a": -Infinity}',
            b'{"a": 1e400}',
            b'{"id": 123456789012345678901234567890}',
            b'{"a": "\\ud800"}',
            b'\xef\xbb\xbf{"a": 1}',
            b'{"a": 1, "a": 2}',
            b"[1, 2]",
            b'"text"',
            b"   ",
            b'{"a": "caf\xe9"}',
            b"[" * 3000 + b"]" * 3000,
            b'{"a":' * 2000 + b"1" + b"}" * 2000,
        ]
    )
    | st.binary(max_size=40)
)
def test_json_lines_read_as_json_reads_them(raw: bytes) -> None:
    """orjson reads the lines ``json`` would read the same; what it refuses or might read
    differently (huge integers become floats there) goes through ``json``."""
    from sevtriage.io import _parse_json_line

    got = _parse_json_line(raw)
    want = _json_reference(raw)
    if isinstance(got, InputError):
        assert want == ("error", got.code)
    else:
        assert got == want and json.dumps(got) == json.dumps(want)


def test_chunks_close_on_their_ticket_count_or_their_characters(triager: Triager) -> None:
    small = copy.copy(triager)
    small.chunk_size, small.chunk_chars = 3, 100
    records = [
        (1, {"id": "a", "body": "x" * 40}),
        (2, {"id": "b", "body": "y" * 70}),  # 110 characters: the chunk closes
        (3, {"id": "c", "subject": "s" * 5, "body": "z"}),
        (4, {"body": 42}),  # no text: counts as a ticket, not as characters
        (5, InputError("invalid_json", "not JSON")),  # third: the chunk closes
        (6, {"id": "d", "body": "w" * 500}),  # alone over the limit: a chunk of its own
        (7, {"id": "e", "body": "v"}),
    ]
    chunks = list(small.chunks(records))
    assert [[line for line, _ in chunk] for chunk in chunks] == [[1, 2], [3, 4, 5], [6], [7]]
    assert list(small.chunks([])) == []


def test_results_do_not_depend_on_how_a_batch_is_chunked(triager: Triager, repo: Path) -> None:
    lines = (repo / "data" / "sample-tickets.jsonl").read_bytes().splitlines(keepends=True)
    data = b"".join(lines) + b'{"id": "x", "body": 5}\n{broken\n' + b"".join(lines[:5])
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    outputs = []
    for size, chars in [
        (1, 10**9),
        (7, 10**9),
        (10**6, 900),
        (triager.chunk_size, triager.chunk_chars),
    ]:
        chunked = copy.copy(triager)
        chunked.chunk_size, chunked.chunk_chars = size, chars
        stream = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]
        outputs.append(list(chunked.triage_records(read_records(stream, "jsonl", "-"), now)))
    assert len(outputs[0]) == len(lines) + 2 + 5
    assert all(output == outputs[0] for output in outputs[1:])
