"""A one-pass prefilter for the lexicon patterns: which signals *may* match a text.

Python's ``re`` scans the text once per pattern; with ~40 patterns that dominates triage time.
RE2 matches a whole set of patterns in one linear pass. Each lexicon pattern is rewritten into a
*superset* that RE2 accepts (lookarounds and ``\\b`` dropped, Unicode-aware ``\\w``/``\\s``/``\\d``
spelled out), so the prefilter may report a signal that does not really match (the exact Python
pattern then rejects it) but never misses one that does. A pattern that cannot be rewritten is
always scanned. The property is tested with generated text (``tests/test_prefilter.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

import re2

_WORD = r"\pL\pN_"
_SPACE = r"\s\x{0b}\pZ\x{1c}-\x{1f}\x{85}"
_OUTSIDE = {"w": f"[{_WORD}]", "s": f"[{_SPACE}]", "d": r"\pN", "b": "", "B": ""}
_INSIDE = {"w": _WORD, "s": _SPACE, "d": r"\pN"}


def _skip_group(pattern: str, i: int) -> int:
    """Index just after the group that opens at ``pattern[i] == '('``."""
    depth, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced parentheses")


def superset(pattern: str) -> str | None:
    """An RE2 pattern matching wherever ``pattern`` (Python syntax) matches; None if unsure."""
    out: list[str] = []
    i, in_class, negated = 0, False, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern):
                return None
            code = pattern[i + 1]
            table = _INSIDE if in_class else _OUTSIDE
            if in_class and negated and code in table:
                return None  # [^\w...] in RE2 would be ASCII-only: not a safe superset
            if code in table:
                out.append(table[code])
            elif code in "WSDAZ" or code.isdigit():
                return None  # negated classes, anchors and back-references: keep it exact
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
            out.append(ch)
        elif ch == "[":
            in_class, negated = True, pattern.startswith("[^", i)
            out.append(ch)
        elif pattern.startswith(("(?<!", "(?<=", "(?!", "(?="), i):
            i = _skip_group(pattern, i)
            continue
        elif ch == "$":
            out.append(r"(?:\n|$)")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


class Prefilter:
    """Which keys may match a text, in one RE2 pass; keys without a safe superset always may."""

    def __init__(self, patterns: Iterable[tuple[str, str]]) -> None:
        options = re2.Options()
        options.max_mem = 256 << 20  # the Unicode classes make a large automaton
        self._set = re2.Set.SearchSet(options)
        self._keys: list[str] = []
        always: set[str] = set()
        for key, pattern in patterns:
            rewritten = superset(pattern)
            if rewritten is None:
                always.add(key)
                continue
            try:
                self._set.Add(rewritten)
            except re2.error:
                always.add(key)
                continue
            self._keys.append(key)
        self._set.Compile()
        self.always = frozenset(always)

    def candidates(self, text: str) -> set[str]:
        matched = self._set.Match(text) if self._keys else None  # None when nothing matches
        hits = {self._keys[i] for i in matched} if matched else set()
        return hits | self.always
