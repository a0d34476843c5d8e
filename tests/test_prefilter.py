"""The RE2 prefilter never hides a real match (it is a superset of every lexicon pattern)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.config import RulesConfig
from sevtriage.prefilter import Prefilter, exact_on, stand_in_bytes, superset
from sevtriage.signals import fold
from sevtriage.triage import Triager


def test_superset_drops_lookarounds_and_widens_bounded_repeats() -> None:
    assert superset(r"(?<!of the )\bapp\s+(?:(?!not\b)\w+\s+){0,2}down\b") == (
        r"\bapp\s+(?:\w+\s+){0,}down\b"
    )
    assert superset(r"(a)\1") is None


def test_ascii_stand_in_keeps_each_character_kind() -> None:
    from sevtriage.prefilter import ascii_stand_in

    assert ascii_stand_in("plain ascii, 42!") == "plain ascii, 42!"
    assert ascii_stand_in("ñ😀\u2003٣д") == "x# 0x"


def test_every_shipped_pattern_gets_a_superset(triager: Triager) -> None:
    assert triager.config.prefilter is not None
    assert triager.config.prefilter.always == ()


def _vocabulary(config: RulesConfig) -> list[str]:
    words: set[str] = set()
    for lex in config.lexicons.values():
        for sig in lex.signals:
            for regex in sig.patterns:
                words.update(w for w in re.findall(r"[a-z']{2,}", regex.pattern) if len(w) < 16)
        words.update(lex.stopwords)
    return sorted(words)


def test_prefilter_reports_every_signal_the_exact_patterns_match(triager: Triager) -> None:
    config = triager.config
    assert config.prefilter is not None
    prefilter: Prefilter = config.prefilter
    vocab = _vocabulary(config)
    pieces = st.one_of(
        st.sampled_from(vocab),
        st.sampled_from([" ", "  ", ", ", ". ", "? ", "\n", "!!! ", "¿", "é", "ñ", "😀"]),
        # spaces to Python's \s; \v and \x1c-\x1f are not to RE2's (the prefilter maps them)
        st.sampled_from(["\u00a0", "\u2003", "\x0b", "\x1c", "\x1f"]),
        st.text(max_size=3),
    )

    @settings(max_examples=400, deadline=None)
    @given(st.lists(pieces, max_size=40).map(" ".join))
    def check(text: str) -> None:
        folded = fold(text)
        hits = prefilter.candidates(folded)
        assert hits == sorted(set(hits))
        for position, ref in enumerate(config.patterns):
            if ref.regex.search(folded):
                assert position in hits, (ref.lexicon.language, ref.signal.name, folded)

    check()


def test_re2_programs_find_exactly_pythons_matches_where_exact_on_says(triager: Triager) -> None:
    """Where signals.py runs a pattern on RE2 (``exact_on`` the folded text: ASCII, or non-ASCII
    punctuation and symbols only), the spans are Python's own; odd spaces included."""
    config = triager.config
    exact = [ref for ref in config.patterns if ref.exact is not None]
    assert len(exact) > len(config.patterns) // 2  # most patterns take the fast path
    vocab = [w for w in _vocabulary(config) if w.isascii()]
    pieces = st.one_of(
        st.sampled_from(vocab),
        st.sampled_from([" ", "  ", ", ", ". ", "? ", "\n", "!!! ", "-", "'", "\t", "500", "_"]),
        st.sampled_from(["¿", "¡", "€", "😀", "«", "—", "…", "\x0b", "\x1c", "\x1f", "#"]),
        st.text(st.characters(max_codepoint=127)),
    )

    @settings(max_examples=500, deadline=None)
    @given(st.lists(pieces, max_size=40).map(" ".join))
    def check(text: str) -> None:
        folded = fold(text)
        assert exact_on(folded)
        data = stand_in_bytes(folded)
        assert len(data) == len(folded)
        for ref in exact:
            if not ref.exact.applies(folded):
                # Only a pattern naming a non-ASCII character, on a text holding it.
                assert any(char in folded for char in ref.exact.absent), ref.regex.pattern
                continue
            python = [m.span() for m in ref.regex.finditer(folded) if m.end() > m.start()]
            assert list(ref.exact.spans(data)) == python, ref.regex.pattern

    check()


def test_exact_on_refuses_texts_with_non_ascii_letters_digits_or_spaces() -> None:
    assert exact_on("plain text, 42") and exact_on(fold("¿Qué? ¡Ya! 😀 €5"))
    assert not exact_on("straße") and not exact_on("٣ items") and not exact_on("a\u2003b")


def test_exact_programs_refuse_what_the_stand_in_text_would_confuse() -> None:
    from sevtriage.prefilter import exact_program

    assert exact_program(r"#\d+") is None  # '#' is the stand-in of '¿', '€', ...
    assert exact_program(r"[!-/]x") is None  # a range holding '#'
    assert exact_program(r"a\x0bb") is None  # \v is scanned as a space
    assert exact_program(r"[a-z]+ (?:x|y)") is not None


def test_the_quote_gate_on_re2_never_misses_a_quote_marker(triager: Triager) -> None:
    config = triager.config
    assert config.quote_gate is not None and config.quote_prefilter is not None
    lines = st.sampled_from(
        [
            "> earlier words",
            "  >quoted",
            "On Mon, 3 Jun 2026, Ana <ana@x.io> wrote:",
            "el lunes, Ana escribió:",
            "-----Original Message-----",
            "--- mensaje original ---",
            "the inbox is down",
            "¿puedo exportar? ¡gracias!",
            "\x0b> odd space before the quote",
            "",
        ]
    )

    @settings(max_examples=300, deadline=None)
    @given(st.lists(lines, max_size=8).map("\n".join))
    def check(text: str) -> None:
        folded = fold(text)
        if config.quote_gate is not None and config.quote_gate.search(folded):
            assert config.quote_prefilter is not None
            assert config.quote_prefilter.candidates(stand_in_bytes(folded))
            for lex in config.lexicons.values():
                for marker in lex.quote_markers:
                    if marker.search(folded):
                        assert marker.pattern in config.quote_prefilter.candidates(
                            stand_in_bytes(folded)
                        )

    check()


def test_patterns_that_may_match_empty_or_need_lookarounds_stay_on_python() -> None:
    from sevtriage.prefilter import exact_program

    assert exact_program(r"\bdown\b") is not None
    assert exact_program(r"\bdown\b|x*") is None
    assert exact_program(r"ca[ií]da") is None  # a non-ASCII character in a class
    assert exact_program(r"\bdown(?! now)") is None  # a lookahead
    assert exact_program(r"\bdown (?<!not )now") is None  # a lookbehind after the start
    assert exact_program(r"(?<!not )down|up") is None  # the lookbehind guards one branch
    assert exact_program(r"down$") is None  # Python's $ also matches before a final newline
    assert exact_program(r"(?<!not )") is None  # nothing but the guard: empty matches


def test_leading_lookbehinds_become_a_guard_and_bounded_repeats_stay_on_re2() -> None:
    from sevtriage.prefilter import exact_program

    guarded = exact_program(r"(?<!not )(?<!no )\bdown\b")
    assert guarded is not None and guarded.pattern == r"\bdown\b"
    assert guarded.guard is not None and guarded.guard.pattern == rb"(?<!not )(?<!no )"
    assert list(guarded.spans(b"not down, no down, down; is down")) == [(19, 23), (28, 32)]
    bounded = exact_program(r"\w{0,3}down")
    assert bounded is not None and bounded.guard is None
    # Eight refused starts hand the rest of the text to Python, from the next position on.
    refused = exact_program(r"(?<!x)b")
    assert refused is not None and refused.MAX_REFUSALS == 8
    assert list(refused.spans(b"xb" * 8 + b"b")) == [(16, 17)]
    assert list(refused.spans(b"xb" * 7 + b"b")) == [(14, 15)]


_GUARDS = ["(?<!x)", "(?<!not )", "(?<![^.!?\n])", "(?<=a)", "(?<!\\w)", "(?<=, )", "(?<!de la )"]
_BODIES = [
    "[^.!?\n]{3,40}\\?",
    "\\b(?:down|up)\\b",
    "\\w+ (?:\\w+ ){0,2}down",
    "(?:a|ab){1,3}c?",
    "\\bnot\\b.{0,12}\\bdown",
    "[a-c]{2,5}",
    "b",
]


def test_guarded_and_bounded_programs_find_pythons_matches() -> None:
    """RE2 with a lookbehind guard (and the Python hand-over after repeated refusals) finds
    exactly ``re.finditer``'s spans, on texts made of the patterns' own pieces."""
    from sevtriage.prefilter import exact_program

    alphabet = st.sampled_from(
        [
            *("a", "b", "c", "ab", " ", "not ", "no ", "de la ", "down", "up", ".", "?", "\n"),
            *(", ", "x", "xbxbxbxbxbxbxbxb", "x" * 12 + "?", "not down, " * 5),
        ]
    )

    @settings(max_examples=400, deadline=None)
    @given(
        st.lists(st.sampled_from(_GUARDS), max_size=2).map("".join),
        st.sampled_from(_BODIES),
        st.lists(alphabet, max_size=80).map("".join),
    )
    def check(guards: str, body: str, text: str) -> None:
        pattern = guards + body
        program = exact_program(pattern)
        assert program is not None, pattern
        python = [m.span() for m in re.finditer(pattern, text)]
        assert list(program.spans(stand_in_bytes(text))) == python, (pattern, text)

    check()


def test_a_pattern_naming_non_ascii_literals_runs_on_re2_where_they_are_absent() -> None:
    """``ascii_variant``: each non-ASCII literal becomes a class that matches nothing. The RE2
    program is used only on texts without those characters (``applies``), and there it finds
    exactly Python's spans; classes and comments naming them are refused."""
    from sevtriage.prefilter import NOTHING, ascii_variant, exact_program

    program = exact_program(r"\b(?:urgente|asap)\b|!{3,}|¡{2,}")
    assert program is not None and program.absent == frozenset("¡")
    assert program.pattern == r"\b(?:urgente|asap)\b|!{3,}|" + NOTHING + "{2,}"
    assert program.applies("urgente!!!") and not program.applies("urgente ¡¡ya!!")
    assert ascii_variant(r"x\¡y") == ("x" + NOTHING + "y", frozenset("¡"))
    refusals = (r"[¡!]+", r"[^¿]", r"(?x) a  # ¡comment", r"[\u00a0-\u00ff]x", "(?i)á", "(?i:é)x")
    for refused in refusals:
        assert exact_program(refused) is None, refused

    bodies = [
        r"¡{2,}|!{3,}",
        r"\b(?:ya|hola)\b|¡+\s*ya",
        r"¿[^?\n]{0,20}\?",
        r"(?<!¡)\bya\b",
        r"a¿?b",
        r"\¡x|y",
    ]
    alphabet = st.sampled_from(
        ["¡", "¿", "!", "?", "ya", "hola", " ", "\n", "a", "b", "x", "y", "#", "😀", "€", "¡¡"]
    )

    @settings(max_examples=400, deadline=None)
    @given(st.sampled_from(bodies), st.lists(alphabet, max_size=40).map("".join))
    def check(pattern: str, text: str) -> None:
        program = exact_program(pattern)
        assert program is not None and program.absent, pattern
        assert exact_on(text)
        present = any(char in text for char in program.absent)
        assert program.applies(text) is not present
        if not present:
            python = [m.span() for m in re.finditer(pattern, text)]
            assert list(program.spans(stand_in_bytes(text))) == python, (pattern, text)

    check()
