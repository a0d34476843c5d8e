r"""A one-pass prefilter for the lexicon patterns: which signals *may* match a text.

Python's ``re`` scans the text once per pattern; with ~40 patterns that dominates triage time.
RE2 matches a whole set of patterns in one linear pass. Each lexicon pattern is rewritten into a
*superset* that RE2 accepts (lookarounds dropped, ``{m,n}`` widened to ``{m,}``), so the
prefilter may report a signal that does not really match (the exact Python pattern then rejects
it) but never misses one that does.

RE2's classes are ASCII (and Unicode classes make its automaton too large to stay fast), so the
text is mapped to ASCII first, one character for one: every non-ASCII character becomes an ASCII
character of the same kind for Python's ``re`` (word -> ``x``, digit -> ``0``, space -> `` ``,
anything else -> ``#``). ``\w``, ``\s``, ``\d`` and ``\b`` then mean the same in both engines.
A pattern that cannot be rewritten is always scanned. The property is tested with generated text
(``tests/test_prefilter.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import re2


class _AsciiStandIns(dict[int, str]):
    """``str.translate`` table: each non-ASCII character to an ASCII one of the same regex kind."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if code < 128:
            value = char
        elif char.isdigit():
            value = "0"
        elif char.isspace():
            value = " "
        elif re.match(r"\w", char):
            value = "x"
        else:
            value = "#"
        self[code] = value
        return value


_STAND_INS = _AsciiStandIns()
_BOUNDED = re.compile(r"\{(\d+),(\d+)\}")


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _stand_in_run(match: re.Match[str]) -> str:
    return match.group().translate(_STAND_INS)


def ascii_stand_in(text: str) -> str:
    """``text`` with every non-ASCII character replaced by an ASCII one of the same kind (only
    the runs of non-ASCII characters go through the table: ``str.translate`` with a dict costs
    some 50 ns for every character, ASCII ones too). A ``str.replace`` per distinct character,
    as ``signals.fold`` does, measured no faster here (31 us on a long Spanish ticket either
    way): folded text has few non-ASCII characters left."""
    return text if text.isascii() else _NON_ASCII.sub(_stand_in_run, text)


# Python's \s matches \v and \x1c-\x1f in str patterns, RE2's does not: as spaces they behave
# the same in both engines (\s, \S, \w, \b, '.' and classes without them all agree).
_RE2_SPACES = bytes(32 if c in (0x0B, 0x1C, 0x1D, 0x1E, 0x1F) else c for c in range(256))


def stand_in_bytes(text: str) -> bytes:
    """What RE2 scans for ``text``: the ASCII stand-in, odd spaces as plain spaces, one byte per
    character (so byte offsets are character offsets)."""
    return ascii_stand_in(text).encode("ascii").translate(_RE2_SPACES)


# A non-ASCII character whose stand-in is not '#' (a word character, digit or space).
_NOT_PUNCTUATION = re.compile(r"[^\x00-\x7f](?<=[\w\s])")


def exact_on(text: str) -> bool:
    """Whether the ``exact_program`` patterns find Python's matches in ``stand_in_bytes(text)``:
    every character is ASCII, or a non-ASCII one RE2 sees as '#' (punctuation, symbols, emoji:
    '¿', '¡', '€', '😀'), which no exact pattern names and which is, like the real character,
    neither word, digit nor space."""
    return text.isascii() or _NOT_PUNCTUATION.search(text) is None


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
    """An RE2 pattern matching (on ASCII stand-in text) wherever ``pattern`` matches; None if
    unsure. Lookarounds only restrict a match, so dropping them gives a superset."""
    out: list[str] = []
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1].isdigit() or pattern[i + 1] in "AZ":
                return None  # back-references and absolute anchors: keep it exact
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
            out.append(ascii_stand_in(ch))  # the text is mapped the same way
        elif ch == "[":
            in_class = True
            out.append(ch)
        elif pattern.startswith(("(?<!", "(?<=", "(?!", "(?="), i):
            i = _skip_group(pattern, i)
            continue
        elif ch == "$":
            out.append(r"(?:\n|$)")
        elif ch == "{" and (bound := _BOUNDED.match(pattern, i)):
            # {m,n} -> {m,}: a superset, and a loop instead of n counted DFA states
            out.append(f"{{{bound.group(1)},}}")
            i = bound.end()
            continue
        else:
            out.append(re.escape(ascii_stand_in(ch)) if not ch.isascii() else ch)
        i += 1
    return "".join(out)


# '#' stands in for non-ASCII punctuation; \v and \x1c-\x1f are scanned as spaces.
_STAND_IN_CODES = frozenset((0x23, 0x0B, 0x1C, 0x1D, 0x1E, 0x1F))


def _walk(items: Any) -> Iterator[tuple[str, Any]]:
    """Every (opcode name, argument) of a parsed pattern (``re._parser``), at any depth:
    inside groups, branches, repeats, lookarounds and classes."""
    for op, arg in items:
        yield str(op), arg
        stack = [arg]
        while stack:
            value = stack.pop()
            if hasattr(value, "data"):  # a SubPattern
                yield from _walk(value.data)
            elif (
                isinstance(value, list)
                and value
                and all(
                    isinstance(v, tuple) and len(v) == 2 and hasattr(v[0], "name") for v in value
                )
            ):
                yield from _walk(value)  # a class: (opcode, argument) pairs
            elif isinstance(value, tuple | list):
                stack.extend(value)


def _names_stand_in_code(items: Any) -> bool:
    """Whether parsed pattern items name one of ``_STAND_IN_CODES`` as a literal or inside a
    class range, at any depth."""
    for name, arg in _walk(items):
        if name in ("LITERAL", "NOT_LITERAL") and arg in _STAND_IN_CODES:
            return True
        if name == "RANGE" and any(arg[0] <= c <= arg[1] for c in _STAND_IN_CODES):
            return True
    return False


class ExactProgram:
    """A pattern on RE2 that yields match spans in bytes (``stand_in_bytes``). The wrapper's
    ``finditer`` builds a Python ``Match`` object and decodes offsets for every match (about
    3 us each); only the spans are needed, so the compiled program is called directly.

    ``guard``: the pattern's leading lookbehinds (RE2 has none), as a zero-width Python regex
    over the same bytes. A match RE2 finds at ``start`` counts only where the guard holds at
    ``start``; otherwise the search goes on from ``start + 1``, as Python's engine does. After
    ``MAX_REFUSALS`` refusals in one text (a long run of starts the guard rejects, e.g. a
    400-character sentence for "a sentence ending in '?'"), the whole pattern, compiled for
    bytes, scans the rest in Python: the same matches, without one RE2 call per character."""

    MAX_REFUSALS = 8

    def __init__(
        self,
        pattern: str,
        guard: str = "",
        absent: frozenset[str] = frozenset(),
        group: int = 0,
    ) -> None:
        self.pattern = pattern
        self.absent = absent
        # ``spans`` yields this group's span of each match (a marker's "blank"), 0: the match.
        self.group = group
        self.guard = re.compile(guard.encode("ascii")) if guard else None
        self._whole = re.compile((guard + pattern).encode("ascii")) if guard else None
        self._compiled = re2.compile(pattern)
        self._raw = self._compiled._regexp
        self._unanchored = re2._Anchor.UNANCHORED

    def applies(self, text: str) -> bool:
        """Whether this program finds the pattern's matches in ``text`` (the folded text, for
        which ``exact_on`` holds): the pattern's non-ASCII characters, which the program
        cannot name (``ascii_variant``), do not occur in it."""
        return not self.absent or not any(char in text for char in self.absent)

    def spans(self, data: bytes) -> Iterator[tuple[int, int]]:
        """Leftmost-first, non-overlapping spans, as ``re.finditer`` (never empty: see
        ``exact_program``). RE2 reads the bytes before ``pos`` as context (``\\b``, ``^``)."""
        match, anchor, end = self._raw.Match, self._unanchored, len(data)
        guard = self.guard.match if self.guard is not None else None
        group = self.group
        pos = refusals = 0
        while pos < end:
            found = match(anchor, data, pos, end)
            start, stop = found[0]
            if start < 0:
                return
            if group:  # only multi-line markers name a group; they have no guard
                first, last = found[group]
                if last > first:
                    yield first, last
                pos = stop
                continue
            if guard is not None and guard(data, start) is None:
                refusals += 1
                if refusals == self.MAX_REFUSALS and self._whole is not None:
                    yield from (m.span() for m in self._whole.finditer(data, start + 1))
                    return
                pos = start + 1
                continue
            yield start, stop
            pos = stop


def _leading_lookbehinds(pattern: str, items: Any) -> int:
    """Length of the prefix of ``pattern`` made of top-level lookbehind groups (``(?<!...)``,
    ``(?<=...)``) that its parse ``items`` begins with; 0 if none."""
    count = 0
    for op, arg in items:
        if str(op) in ("ASSERT", "ASSERT_NOT") and arg[0] == -1:
            count += 1
        else:
            break
    end = 0
    for _ in range(count):
        if not pattern.startswith(("(?<!", "(?<="), end):
            return 0  # written some other way: no guard
        end = _skip_group(pattern, end)
    return end


def exact_program(pattern: str) -> ExactProgram | None:
    """``pattern`` on RE2 when RE2 finds exactly the matches Python's ``re`` finds on a text for
    which ``exact_on`` holds, scanned as ``stand_in_bytes``; None otherwise.

    That holds when the pattern is ASCII (or its non-ASCII characters are plain literals: its
    ``ascii_variant`` runs instead, on texts without them, ``ExactProgram.applies``), has no
    lookaround other than leading lookbehinds
    (checked in Python at each match start: ``ExactProgram.guard``), no back-reference, atomic
    group or possessive repeat, no ``$``, ``\\A`` or ``\\Z`` (whose meanings differ), does not
    name '#' (the stand-in of non-ASCII punctuation) or the odd spaces (\\v, \\x1c-\\x1f:
    spaces to RE2), and cannot match the empty string (the engines step past empty matches
    differently). Both engines then agree on classes, ``\\b``, bounded repeats and
    leftmost-first alternation. RE2 scans in linear time.
    """
    absent: frozenset[str] = frozenset()
    try:
        if not pattern.isascii():
            variant = ascii_variant(pattern)
            if variant is None:
                return None
            pattern, absent = variant
        parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
        if parsed.getwidth()[0] == 0 or _names_stand_in_code(parsed.data):
            return None
        cut = _leading_lookbehinds(pattern, parsed.data)
        rest = pattern[cut:]
        body = re._parser.parse(rest)  # type: ignore[attr-defined]
        if body.getwidth()[0] == 0 or _not_on_re2(body.data) or _ends_lines(body.data):
            return None
        return ExactProgram(rest, pattern[:cut], absent)
    except (re.error, re2.error):
        return None


# A class that matches no character, in both engines.
NOTHING = r"[^\s\S]"


def ascii_variant(pattern: str) -> tuple[str, frozenset[str]] | None:
    """``pattern`` with each of its non-ASCII characters replaced by ``NOTHING``, and those
    characters; None unless every non-ASCII character of the pattern is a plain literal (not
    inside a class, not in a comment). On a text without those characters the variant finds
    exactly the pattern's matches: a literal that cannot match anywhere is a branch or an atom
    that never matches, which is what ``NOTHING`` is. E.g. ``urgente!+|¡{2,}`` on a text
    without '¡' (``ExactProgram.applies``)."""
    parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
    if parsed.state.flags & re.IGNORECASE:
        return None  # 'á' would match 'Á' too, which ``applies`` does not look for
    literals = _non_ascii_literals(parsed.data)
    if literals is None or literals != sum(not c.isascii() for c in pattern):
        return None  # one is in a class, a comment, or a form not understood here
    out: list[str] = []
    absent: set[str] = set()
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            if escaped.isascii():
                out.append(pattern[i : i + 2])
            else:
                out.append(NOTHING)
                absent.add(escaped)
            i += 2
            continue
        if ch.isascii():
            out.append(ch)
        else:
            out.append(NOTHING)
            absent.add(ch)
        i += 1
    return "".join(out), frozenset(absent)


def _non_ascii_literals(items: Any) -> int | None:
    """How many literals of non-ASCII characters parsed pattern items hold, at any depth;
    None if a class names a non-ASCII character (as a member, a range end or a negation), or
    a group turns case-insensitive matching on."""
    count = 0
    for op, arg in items:
        name = str(op)
        if name == "SUBPATTERN" and arg[1] & re.IGNORECASE:
            return None
        if name == "LITERAL":
            count += arg >= 128
        elif name == "NOT_LITERAL":
            if arg >= 128:
                return None
        elif name == "IN":
            for member, value in arg:
                kind = str(member)
                if kind in ("LITERAL", "NOT_LITERAL") and value >= 128:
                    return None
                if kind == "RANGE" and value[1] >= 128:
                    return None
        else:
            stack = [arg]
            while stack:
                value = stack.pop()
                if hasattr(value, "data"):  # a SubPattern
                    inner = _non_ascii_literals(value.data)
                    if inner is None:
                        return None
                    count += inner
                elif isinstance(value, tuple | list):
                    stack.extend(value)
    return count


def _ends_lines(items: Any) -> bool:
    """Whether parsed items use ``$`` (Python's also matches before a final newline)."""
    return any(name == "AT" and str(arg) == "AT_END" for name, arg in _walk(items))


_NOT_ON_RE2 = frozenset(
    ("ASSERT", "ASSERT_NOT", "GROUPREF", "GROUPREF_EXISTS", "ATOMIC_GROUP", "POSSESSIVE_REPEAT")
)
_ABSOLUTE_ANCHORS = frozenset(("AT_BEGINNING_STRING", "AT_END_STRING"))


def _not_on_re2(items: Any) -> bool:
    """Whether parsed items hold something RE2 lacks: lookarounds, back-references, atomic
    groups, possessive repeats, absolute anchors."""
    return any(
        name in _NOT_ON_RE2 or (name == "AT" and str(arg) in _ABSOLUTE_ANCHORS)
        for name, arg in _walk(items)
    )


def exact_multiline_program(pattern: str) -> ExactProgram | None:
    """A ``re.MULTILINE`` pattern (a quote marker) on RE2 in multi-line mode, where RE2 finds
    Python's matches on texts for which ``exact_on`` holds; None otherwise. In multi-line mode
    both engines read ``^``/``$`` alike and RE2 counts bounded repeats as Python does, so only
    lookarounds, back-references, atomic groups, absolute anchors, the stand-in codes and
    empty matches are refused."""
    if not pattern.isascii():
        return None
    try:
        parsed = re._parser.parse(pattern, re.MULTILINE)  # type: ignore[attr-defined]
        if parsed.getwidth()[0] == 0 or _names_stand_in_code(parsed.data):
            return None
        if _not_on_re2(parsed.data):
            return None
        # A marker that blanks its group named "blank" yields that group's spans; both engines
        # number groups by their opening parenthesis.
        group = re.compile(pattern, re.MULTILINE).groupindex.get("blank", 0)
        return ExactProgram(f"(?m){pattern}", group=group)
    except (re.error, re2.error):
        return None


# RE2 compiles a set into one automaton whose states multiply with the patterns in it (198
# patterns: 46 us per ticket; four sets of 50: 21 us), so the patterns go into several sets.
SET_SIZE = 50


def _new_set() -> re2.Set:
    options = re2.Options()
    options.max_mem = 32 << 20
    return re2.Set.SearchSet(options)


class Prefilter:
    """Which patterns may match a text, in one RE2 pass per set of ``SET_SIZE`` patterns.
    Patterns are named by their position in the sequence given; one without a safe superset
    always may match."""

    def __init__(self, patterns: Iterable[str], set_size: int = SET_SIZE) -> None:
        self._sets: list[tuple[re2.Set, list[int]]] = []  # (set, set index -> position)
        current, positions = _new_set(), []
        always: list[int] = []
        for position, pattern in enumerate(patterns):
            rewritten = superset(pattern)
            if rewritten is None:
                always.append(position)
                continue
            try:
                current.Add(rewritten)
            except re2.error:
                always.append(position)
                continue
            positions.append(position)
            if len(positions) == set_size:
                current.Compile()
                self._sets.append((current, positions))
                current, positions = _new_set(), []
        if positions:
            current.Compile()
            self._sets.append((current, positions))
        self.always: tuple[int, ...] = tuple(always)

    def candidates(self, text: str) -> list[int]:
        """Positions of the patterns that may match ``text`` (the folded text; mapped to ASCII
        here), in increasing order."""
        return self.candidates_in(stand_in_bytes(text))

    def candidates_in(self, data: bytes) -> list[int]:
        """``candidates`` of the text whose ``stand_in_bytes`` is ``data``."""
        return self.candidates_of_many((data,))[0]

    def candidates_of_many(self, datas: Sequence[bytes]) -> list[list[int]]:
        """``candidates_in`` of each text of a batch, one set at a time over the whole batch: a
        set's automaton stays in the CPU's caches instead of being reloaded for every ticket
        (between two tickets the model and the rest of triage have evicted it)."""
        hits = [list(self.always) for _ in datas]
        for regex_set, positions in self._sets:
            match = regex_set.Match
            for found, data in zip(hits, datas, strict=True):
                matched = match(data)  # None when nothing matches
                if matched:
                    found.extend(positions[i] for i in matched)
        for found in hits:
            found.sort()
        return hits


class Gate:
    """Which of some multi-line patterns (the quote markers) may match, in one RE2 set pass over
    ``stand_in_bytes``; a pattern without a safe superset always may."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(dict.fromkeys(patterns))
        self._set: re2.Set | None = _new_set()
        self._in_set: list[str] = []
        self._always: list[str] = []
        for pattern in self.patterns:
            rewritten = superset(pattern)
            try:
                if rewritten is None:
                    raise re2.error("no superset")
                self._set.Add(f"(?m){rewritten}")
                self._in_set.append(pattern)
            except re2.error:
                self._always.append(pattern)
        if self._in_set:
            self._set.Compile()
        else:
            self._set = None

        self.exact = {p: exact_multiline_program(p) for p in self.patterns}

    def candidates(self, data: bytes) -> set[str]:
        """The patterns that may match the text whose ``stand_in_bytes`` is ``data``."""
        found = set(self._always)
        if self._set is not None and (matched := self._set.Match(data)):
            found.update(self._in_set[i] for i in matched)
        return found
