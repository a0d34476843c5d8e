"""A deterministic generator of hostile ticket input (shared by the CLI and HTTP hostile tests)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

_RTL = "هذا النص من اليمين إلى اليسار ‏ עברית ‮override‬"
_EMOJI = "🔥💥😱👍🏽👨‍👩‍👧‍👦🇲🇽"
_SCRIPT = "<script>alert('x')</script><img src=x onerror=alert(1)><a href='javascript:1'>x</a>"

# A maker writes one input from the generator and an id function (the CLI keeps the fixed ids;
# the HTTP test makes every id unique so that each valid input is exactly one stored ticket).
Maker = Callable[[random.Random, Callable[[str], str]], bytes]


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()


def _makers() -> list[tuple[str, Maker]]:
    """(kind, maker) pairs; the order and the generator calls are what ``hostile_jsonl_lines``
    has always produced for a given seed."""
    return [
        ("unterminated", lambda r, uid: b'{"id": "%s", "body": "unterminated' % uid("x").encode()),
        ("single_quotes", lambda r, uid: b"{'id': 'single quotes'}"),
        ("null", lambda r, uid: b"null"),
        ("empty_array", lambda r, uid: b"[]"),
        ("number", lambda r, uid: b"42"),
        ("blank", lambda r, uid: b""),
        ("whitespace", lambda r, uid: b"   \t "),
        ("null_id", lambda r, uid: _dumps({"id": None, "body": "x"})),
        ("null_body", lambda r, uid: _dumps({"id": uid("a"), "body": None})),
        ("object_id", lambda r, uid: _dumps({"id": {"nested": 1}, "body": "x"})),
        ("bool_id", lambda r, uid: _dumps({"id": True, "body": "x"})),
        ("list_body", lambda r, uid: _dumps({"id": uid("a"), "body": ["list"]})),
        (
            "int_created_at",
            lambda r, uid: _dumps({"id": uid("a"), "body": "x", "created_at": 12345}),
        ),
        (
            "bad_created_at",
            lambda r, uid: _dumps({"id": uid("a"), "body": "x", "created_at": "yesterday"}),
        ),
        (
            "bad_timezone",
            lambda r, uid: _dumps({"id": uid("a"), "body": "x", "timezone": "../../etc/passwd"}),
        ),
        (
            "bad_language",
            lambda r, uid: _dumps({"id": uid("a"), "body": "x", "language": "klingon"}),
        ),
        ("dict_tags", lambda r, uid: _dumps({"id": uid("a"), "body": "x", "tags": {"a": 1}})),
        ("huge_id", lambda r, uid: _dumps({"id": "i" * r.randint(257, 100_000), "body": "x"})),
        (
            "invalid_utf8",
            lambda r, uid: (
                b'{"id": "%s", "body": "\xff\xfe\xfd broken"}' % uid("bad-utf8").encode()
            ),
        ),
        (
            "nul_body",
            lambda r, uid: (
                b'{"id": "%s", "body": "\\u0000 nul \\u0007 bell"}' % uid("ctrl").encode()
            ),
        ),
        (
            "control_chars",
            lambda r, uid: _dumps({"id": uid("ctrl2"), "body": "line\u0001\u001b[31mred\u001b[0m"}),
        ),
        ("html", lambda r, uid: _dumps({"id": uid("html"), "body": _SCRIPT * r.randint(1, 50)})),
        ("rtl", lambda r, uid: _dumps({"id": uid("rtl"), "body": _RTL * r.randint(1, 20)})),
        ("emoji", lambda r, uid: _dumps({"id": uid("emoji"), "body": _EMOJI * r.randint(1, 200)})),
        (
            "deep_extra",
            lambda r, uid: _dumps(
                {"id": uid("deep"), "body": "x", "extra": json.loads("[" * 50 + "]" * 50)}
            ),
        ),
        ("deep_brackets", lambda r, uid: b"[" * 100_000 + b"]" * 100_000),
        (
            "ok",
            lambda r, uid: _dumps(
                {"id": uid("ok"), "body": "The inbox is down for everyone, no workaround."}
            ),
        ),
        (
            "ok_es",
            lambda r, uid: _dumps({"id": uid("ok2"), "body": "¿Cómo exporto mis contactos?"}),
        ),
        ("ok_long", lambda r, uid: _dumps({"id": uid("ok3"), "body": "x" * r.randint(1, 99_000)})),
    ]


def _same(name: str) -> str:
    return name


def hostile_jsonl_lines(n: int, seed: int = 0, big_bodies: int = 3) -> list[bytes]:
    """``n`` JSONL lines, most of them bad in some way, a few good; ``big_bodies`` of 10 MB."""
    rng = random.Random(seed)
    makers = [make for _, make in _makers()]
    lines = [rng.choice(makers)(rng, _same) for _ in range(n - big_bodies)]
    for _ in range(big_bodies):
        big = json.dumps({"id": "big", "body": "A" * 10_000_000}).encode()
        lines.insert(rng.randrange(len(lines) + 1), big)
    return [line.replace(b"\n", b" ") for line in lines]


@dataclass(frozen=True)
class HostileCase:
    """One hostile input: the kind of maker that wrote it, its bytes, and the ticket id it
    carries when it has a usable one (unique per case)."""

    kind: str
    data: bytes
    ticket_id: str | None


def hostile_cases(n: int, seed: int = 0, big_bodies: int = 3) -> list[HostileCase]:
    """The same mix as ``hostile_jsonl_lines``, each input on its own (e.g. one HTTP request
    body each), with every id made unique (``ok-17``), so each valid input is one new ticket."""
    rng = random.Random(seed)
    makers = _makers()
    cases: list[HostileCase] = []
    for index in range(n - big_bodies):
        kind, make = rng.choice(makers)
        given: list[str] = []

        def unique(name: str, index: int = index, given: list[str] = given) -> str:
            given.append(f"{name}-{index}")
            return given[-1]

        data = make(rng, unique)
        cases.append(HostileCase(kind, data, given[0] if given else None))
    for number in range(big_bodies):
        big = json.dumps({"id": f"big-{number}", "body": "A" * 10_000_000}).encode()
        cases.insert(rng.randrange(len(cases) + 1), HostileCase("big_body", big, f"big-{number}"))
    return cases


def ragged_csv(rows: int, seed: int = 0) -> bytes:
    """A CSV with a header and ``rows`` rows, many of them ragged, blank or broken."""
    rng = random.Random(seed)
    out = ["id,subject,body,plan"]
    for i in range(rows):
        kind = rng.randrange(6)
        if kind == 0:
            out.append(f"R-{i},s,The API is down,business_plus")
        elif kind == 1:
            out.append(f"R-{i},only-two")
        elif kind == 2:
            out.append(f"R-{i},a,b,c,d,e,f")
        elif kind == 3:
            out.append("")
        elif kind == 4:
            out.append(f'R-{i},"quoted, subject","body with ""quotes"" and {_EMOJI}",pro')
        else:
            out.append(f"R-{i},,,")
    return ("\n".join(out) + "\n").encode()
