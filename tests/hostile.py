"""A deterministic generator of hostile ticket input (shared by the CLI and HTTP hostile tests)."""

from __future__ import annotations

import json
import random

_RTL = "هذا النص من اليمين إلى اليسار ‏ עברית ‮override‬"
_EMOJI = "🔥💥😱👍🏽👨‍👩‍👧‍👦🇲🇽"
_SCRIPT = "<script>alert('x')</script><img src=x onerror=alert(1)><a href='javascript:1'>x</a>"


def hostile_jsonl_lines(n: int, seed: int = 0, big_bodies: int = 3) -> list[bytes]:
    """``n`` JSONL lines, most of them bad in some way, a few good; ``big_bodies`` of 10 MB."""
    rng = random.Random(seed)
    makers = [
        lambda: b'{"id": "x", "body": "unterminated',
        lambda: b"{'id': 'single quotes'}",
        lambda: b"null",
        lambda: b"[]",
        lambda: b"42",
        lambda: b"",
        lambda: b"   \t ",
        lambda: json.dumps({"id": None, "body": "x"}).encode(),
        lambda: json.dumps({"id": "a", "body": None}).encode(),
        lambda: json.dumps({"id": {"nested": 1}, "body": "x"}).encode(),
        lambda: json.dumps({"id": True, "body": "x"}).encode(),
        lambda: json.dumps({"id": "a", "body": ["list"]}).encode(),
        lambda: json.dumps({"id": "a", "body": "x", "created_at": 12345}).encode(),
        lambda: json.dumps({"id": "a", "body": "x", "created_at": "yesterday"}).encode(),
        lambda: json.dumps({"id": "a", "body": "x", "timezone": "../../etc/passwd"}).encode(),
        lambda: json.dumps({"id": "a", "body": "x", "language": "klingon"}).encode(),
        lambda: json.dumps({"id": "a", "body": "x", "tags": {"a": 1}}).encode(),
        lambda: json.dumps({"id": "i" * rng.randint(257, 100_000), "body": "x"}).encode(),
        lambda: b'{"id": "bad-utf8", "body": "\xff\xfe\xfd broken"}',
        lambda: b'{"id": "ctrl", "body": "\\u0000 nul \\u0007 bell"}',
        lambda: json.dumps({"id": "ctrl2", "body": "line\u0001\u001b[31mred\u001b[0m"}).encode(),
        lambda: json.dumps({"id": "html", "body": _SCRIPT * rng.randint(1, 50)}).encode(),
        lambda: json.dumps({"id": "rtl", "body": _RTL * rng.randint(1, 20)}).encode(),
        lambda: json.dumps({"id": "emoji", "body": _EMOJI * rng.randint(1, 200)}).encode(),
        lambda: json.dumps(
            {"id": "deep", "body": "x", "extra": json.loads("[" * 50 + "]" * 50)}
        ).encode(),
        lambda: b"[" * 100_000 + b"]" * 100_000,
        lambda: json.dumps(
            {"id": "ok", "body": "The inbox is down for everyone, no workaround."}
        ).encode(),
        lambda: json.dumps({"id": "ok2", "body": "¿Cómo exporto mis contactos?"}).encode(),
        lambda: json.dumps({"id": "ok3", "body": "x" * rng.randint(1, 99_000)}).encode(),
    ]
    lines = [rng.choice(makers)() for _ in range(n - big_bodies)]
    for _ in range(big_bodies):
        big = json.dumps({"id": "big", "body": "A" * 10_000_000}).encode()
        lines.insert(rng.randrange(len(lines) + 1), big)
    return [line.replace(b"\n", b" ") for line in lines]


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
