"""The RE2 prefilter never hides a real match (it is a superset of every lexicon pattern)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.config import RulesConfig
from sevtriage.prefilter import Prefilter, superset
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
        st.sampled_from(
            [" ", "  ", ", ", ". ", "? ", "\n", "!!! ", "¿", "é", "ñ", "😀", "\u00a0", "\u2003"]
        ),
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


def test_re2_programs_find_exactly_pythons_matches_on_plain_ascii(triager: Triager) -> None:
    """Where signals.py runs a pattern on RE2 (plain-ASCII text), the spans are Python's own."""
    config = triager.config
    exact = [ref for ref in config.patterns if ref.exact is not None]
    assert len(exact) > len(config.patterns) // 2  # most patterns take the fast path
    vocab = [w for w in _vocabulary(config) if w.isascii()]
    pieces = st.one_of(
        st.sampled_from(vocab),
        st.sampled_from([" ", "  ", ", ", ". ", "? ", "\n", "!!! ", "-", "'", "\t", "500", "_"]),
        st.text(st.characters(max_codepoint=127, exclude_characters="\x0b\x1c\x1d\x1e\x1f")),
    )

    @settings(max_examples=400, deadline=None)
    @given(st.lists(pieces, max_size=40).map(" ".join))
    def check(text: str) -> None:
        folded = fold(text)
        data = folded.encode("ascii")
        for ref in exact:
            python = [m.span() for m in ref.regex.finditer(folded) if m.end() > m.start()]
            assert [m.span() for m in ref.exact.finditer(data)] == python, ref.regex.pattern

    check()


def test_patterns_that_may_match_empty_or_need_lookarounds_stay_on_python() -> None:
    from sevtriage.prefilter import exact_program

    assert exact_program(r"\bdown\b") is not None
    assert exact_program(r"(?<!not )\bdown\b") is None
    assert exact_program(r"\bdown\b|x*") is None
    assert exact_program(r"ca[ií]da") is None  # non-ASCII pattern
    assert exact_program(r"\w{0,3}down") is None  # bounded repeat
