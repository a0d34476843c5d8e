"""JSON columns are written by ``store.jsontext.dumps`` (orjson where it is exact) and content
hashes by one shared encoder: what is read back, and every hash, is what the stdlib gave."""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.service.content import content_hash
from sevtriage.store.jsontext import dumps

# Any text, lone surrogates included; ints beyond 64 bits; NaN and infinities; tuples and
# non-str keys: everything ``json.dumps`` takes, and some it writes differently from orjson.
TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**64 + 2)
    | st.floats()
    | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(TEXT, inner, max_size=4)
        | st.dictionaries(st.integers() | st.booleans() | st.none(), inner, max_size=3)
        | st.tuples(inner, inner)
    ),
    max_leaves=16,
)


def same(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN, 1 unequal to 1.0 and to True, -0.0 unequal to 0.0."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@settings(max_examples=600, deadline=None)
@given(VALUES)
def test_a_json_column_reads_back_what_the_stdlib_text_read_back(value: Any) -> None:
    try:
        old = json.dumps(value)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            dumps(value)
        return
    assert same(json.loads(dumps(value)), json.loads(old))


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 1


@pytest.mark.parametrize(
    "value",
    [
        {"at": datetime(2025, 1, 1, tzinfo=UTC)},
        [uuid.UUID(int=7)],
        {"color": Color.RED},
        {"k": float("nan")},
        [float("inf"), -float("inf")],
        {"big": 2**64},
        {"s": "\ud800"},
        {1: "one"},
        (1, 2),
        {"level": Level.HIGH},
        {"ok": ["é", 1.5, -0.0, 1e16, None, True]},
    ],
)
def test_what_orjson_writes_differently_or_refuses_goes_as_the_stdlib_had_it(value: Any) -> None:
    """orjson writes datetimes, UUIDs and enums that json.dumps refuses, and NaN as null."""
    try:
        old = json.dumps(value)
    except TypeError:
        with pytest.raises(TypeError):
            dumps(value)
        return
    assert same(json.loads(dumps(value)), json.loads(old))


def test_plain_values_are_written_compact_and_in_utf8() -> None:
    assert dumps({"a": [1, "é"], "b": None}) == '{"a":[1,"é"],"b":null}'


def _old_content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def test_the_content_hash_of_a_ticket_is_the_one_stored_since_the_first_version() -> None:
    content = {
        "id": "H-1",
        "subject": "Caída",
        "body": "El panel no carga.\nNada.",
        "created_at": None,
        "plan": "pro",
        "timezone": "Europe/Madrid",
        "country": "ES",
        "language": None,
        "channel": "email",
        "requester": "ana@example.es",
        "tags": ["billing", "ñ"],
        "severity": None,
        "extra": {"n": 1.5, "z": [1, None, True], "a": "😀"},
    }
    assert content_hash(content) == (
        "aeba1e1f8019d03eef45b24cdbea1fb4a8b8f892a4c906f333f3ec47a1c969d6"
    )


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TEXT, VALUES | st.datetimes(timezones=st.just(UTC)), max_size=6))
def test_content_hashes_equal_the_per_call_encoder_s(content: dict[str, Any]) -> None:
    try:
        old = _old_content_hash(content)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            content_hash(content)
        return
    assert content_hash(content) == old
