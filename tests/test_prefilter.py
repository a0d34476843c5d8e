"""The RE2 prefilter never hides a real match (it is a superset of every lexicon pattern)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.config import RulesConfig, pattern_key
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
    assert triager.config.prefilter.always == frozenset()


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
        for lex in config.lexicons.values():
            for sig in lex.signals:
                for i, regex in enumerate(sig.patterns):
                    if regex.search(folded):
                        key = pattern_key(lex.language, sig.name, i)
                        assert key in hits, (key, folded)

    check()
