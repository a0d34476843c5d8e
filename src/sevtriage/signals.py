"""Text -> signals: the facts the severity rules test, each with the exact words that support it.

Pure functions of the ticket text and the loaded lexicons. The text is *folded* first (lower case,
accents removed, HTML tags and quoted replies blanked) without changing its length, so every match
in the folded text is an exact span of the original text: that span is the evidence shown to agents.

Every lexicon is applied to every ticket, so mixed-language tickets work; the detected language
only chooses the language of the explanations.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sevtriage.config import CompiledSignal, Lexicon, RulesConfig
from sevtriage.prefilter import Gate, exact_on, stand_in_bytes


class Evidence(NamedTuple):
    """One match of a signal pattern: where it is and what it says (a tuple: made ~10 times
    per ticket, it must be cheap to build)."""

    signal: str
    field: str
    start: int
    end: int
    text: str
    language: str
    hedged: bool = False

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "signal": self.signal,
            "field": self.field,
            "start": self.start,
            "end": self.end,
            "text": self.text,
        }
        if self.hedged:
            out["hedged"] = True
        return out


@dataclass(frozen=True)
class SignalReport:
    """The facts of one ticket: every signal true/false, with evidence and negated mentions."""

    facts: dict[str, bool]
    evidence: dict[str, list[Evidence]] = field(default_factory=dict)
    negated: list[Evidence] = field(default_factory=list)
    language: str = "en"
    # Spans of ``modelfile.model_text(subject, body)`` (subject, newline, body: the newline is
    # there without a subject too) that the fallback model does not read: the e-mail
    # boilerplate, and the quoted earlier messages when the customer's own words are enough
    # (``RulesConfig.hide_quotes_from_words``); see ``hidden_from_model``.
    hidden_from_model: tuple[tuple[int, int], ...] = ()

    def true_signals(self) -> list[str]:
        return [name for name, value in self.facts.items() if value]


def _fold_table() -> dict[int, str]:
    """Map accented Latin letters and typographic quotes to one plain character each."""
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        if len(base) == 1 and base != char:
            table[code] = base.lower()
    for quote in "\u2018\u2019\u201b\u2032\u00b4`":
        table[ord(quote)] = "'"
    for dquote in "\u201c\u201d\u201e\u00ab\u00bb":
        table[ord(dquote)] = '"'
    table[0xA0] = " "
    return table


_FOLD = _fold_table()
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# One replace per character is one pass: no folded character is folded again.
assert not any(ord(c) in _FOLD for plain in _FOLD.values() for c in plain)


_TAG = re.compile(r"<[^<>]{0,500}>")
_ENTITY = re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{1,6});")


def fold(text: str) -> str:
    """Lower-case, strip accents, carriage returns to spaces, blank HTML tags and entities; the
    result has the same length."""
    lowered = text.lower()
    if len(lowered) != len(text):  # rare characters whose lower case is longer (e.g. 'İ')
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    # Only the non-ASCII characters need the table: one replace per distinct one.
    folded = lowered
    if not folded.isascii():
        for char in set("".join(_NON_ASCII.findall(folded))):
            if (plain := _FOLD.get(ord(char))) is not None:
                folded = folded.replace(char, plain)
    if "\r" in folded:  # CRLF line ends (e-mail): "\r" is a space, so "$" and "\n" match alike
        folded = folded.replace("\r", " ")
    if "<" in folded:
        folded = _TAG.sub(lambda m: " " * len(m.group()), folded)
    if "&" in folded:
        folded = _ENTITY.sub(lambda m: " " * len(m.group()), folded)
    return folded


def blank_quotes(folded: str, config: RulesConfig) -> str:
    """Blank e-mail boilerplate (disclaimers, "sent from my phone") and quoted earlier messages
    ("> ...", "On ... wrote:") in ``folded``: not this ticket's words."""
    return _blank_both(folded, stand_in_bytes(folded), config)[0]


Span = tuple[int, int]


def _blank_marked(
    folded: str,
    data: bytes,
    markers: Sequence[re.Pattern[str]],
    gate: Gate | None,
    any_marker: re.Pattern[str] | None,
    maybe: set[str] | None = None,
) -> tuple[str, bytes, list[Span]]:
    """``folded`` and its ``stand_in_bytes`` ``data`` with every match of ``markers`` blanked,
    and the spans blanked. Only the markers the RE2 ``gate`` says may match are tried (asked
    again after each blanking), and on RE2 when it finds Python's matches (a marker's Python
    scan of a long ticket costs ~30 us; RE2's ~3). ``any_marker``: all of them as one Python
    regex (used when there is no gate). ``maybe``: the gate's answer for ``data``, when the
    caller has it (``extract_many``)."""
    blanked: list[Span] = []
    if any_marker is None:
        return folded, data, blanked
    if gate is not None:
        if maybe is None:
            maybe = gate.candidates(data)
        if not maybe:
            return folded, data, blanked  # the usual case: no marker can match
    elif any_marker.search(folded) is None:
        return folded, data, blanked
    on_re2 = gate is not None and exact_on(folded)
    for marker in markers:
        if maybe is not None and marker.pattern not in maybe:
            continue
        program = gate.exact.get(marker.pattern) if on_re2 and gate is not None else None
        if program is not None:
            spans = list(program.spans(data))
            if not spans:
                continue
            folded, data = _blanked(folded, spans), _blanked_bytes(data, spans)
        else:
            # A marker with a group named "blank" blanks that group only (an Outlook forward's
            # header block, found from the subject's "FW:"), not the whole match.
            group = "blank" if "blank" in marker.groupindex else 0
            spans = [
                (m.start(group), m.end(group))
                for m in marker.finditer(folded)
                if m.end(group) > m.start(group)
            ]
            if not spans:
                continue
            folded = _blanked(folded, spans)
            data = stand_in_bytes(folded)
        blanked += spans
        # The text changed: ask the set again (one pass) rather than scan every marker left.
        # The same marker in another lexicon usually has nothing left to blank.
        maybe = gate.candidates(data) if gate is not None else None
    return folded, data, blanked


def _blank_both(
    folded: str,
    data: bytes,
    config: RulesConfig,
    maybe_boilerplate: set[str] | None = None,
    maybe_quote: set[str] | None = None,
) -> tuple[str, bytes, list[Span]]:
    """The boilerplate markers blanked, then the quote markers; the spans the model does not
    read (``_hidden``)."""
    folded, after, spans = _blank_marked(
        folded,
        data,
        config.boilerplate_markers,
        config.boilerplate_prefilter,
        config.boilerplate_gate,
        maybe_boilerplate,
    )
    if after is not data:
        maybe_quote = None  # the gate's answer was for the text before the blanking
    folded, after, quoted = _blank_marked(
        folded, after, config.quote_markers, config.quote_prefilter, config.quote_gate, maybe_quote
    )
    return folded, after, _hidden(folded, spans, quoted, config)


_WORD = re.compile(r"\w+")


def _hidden(
    own: str, boilerplate: list[Span], quoted: list[Span], config: RulesConfig
) -> list[Span]:
    """What the model does not read: the boilerplate, and the quotes once the customer's own
    words (``own``: the text with both blanked) reach ``config.hide_quotes_from_words``. A
    follow-up of a few words ("any update? still happening") keeps the message it quotes."""
    limit = config.hide_quotes_from_words
    if not quoted or limit is None:
        return boilerplate
    enough = limit == 0 or next(itertools.islice(_WORD.finditer(own), limit - 1, None), None)
    return boilerplate + quoted if enough else boilerplate


def hidden_from_model(text: str, config: RulesConfig) -> list[Span]:
    """The spans of ``text`` (a ticket's subject, newline, body) that the model does not read,
    as triage finds them (``SignalReport.hidden_from_model``)."""
    folded = fold(text)
    return _blank_both(folded, stand_in_bytes(folded), config)[2]


def _blanked(text: str, spans: list[Span]) -> str:
    pieces: list[str] = []
    last = 0
    for start, end in spans:
        pieces += (text[last:start], " " * (end - start))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _blanked_bytes(data: bytes, spans: list[Span]) -> bytes:
    out = bytearray(data)
    for start, end in spans:
        out[start:end] = b" " * (end - start)
    return bytes(out)


# Lower-case ASCII letters stay, every other byte is a space: ``split`` then gives the words
# ``[a-z]+`` finds (non-ASCII characters, encoded as '?', end a word as they do for the regex).
_LETTER_BYTES = bytes(c if 97 <= c <= 122 else 32 for c in range(256))


def detect_language(
    folded: str, lexicons: Mapping[str, Lexicon], default: str = "en", data: bytes | None = None
) -> str:
    """The lexicon language whose stopwords occur most often in the first 5,000 characters;
    ``default`` on a tie or no words. ``data``: ``stand_in_bytes(folded)`` when ``exact_on``
    holds (its non-ASCII characters are then '#', a separator like the real ones)."""
    raw = data[:5000] if data is not None else folded[:5000].encode("ascii", "replace")
    words = raw.translate(_LETTER_BYTES).split()
    counts = {
        lang: sum(map(lex.stopword_bytes.__contains__, words)) for lang, lex in lexicons.items()
    }
    if not counts:
        return default
    best = max(counts.values())
    winners = sorted(lang for lang, n in counts.items() if n == best)
    if best == 0 or len(winners) > 1:
        return default if default in lexicons else winners[0]
    return winners[0]


def _preceding_clause(folded: str, start: int, lex: Lexicon) -> str:
    """The words before ``start`` in the same clause, at most the lexicon's negation window."""
    before = folded[max(0, start - 80) : start]
    # The last clause break: a deque of one consumes the matches in C, keeping the last.
    if last_break := deque(lex.clause_break.finditer(before), maxlen=1):
        before = before[last_break[0].end() :]
    return " ".join(before.split()[-lex.negation_window :])


def _fold_for_scan(original: str, config: RulesConfig) -> tuple[str, bytes, list[Span]]:
    """The folded text with boilerplate and quotes blanked, what RE2 scans of it
    (``stand_in_bytes``), and the spans the model does not read. The markers are tried on RE2
    first: most tickets quote nothing."""
    folded = fold(original)
    return _blank_both(folded, stand_in_bytes(folded), config)


def extract_signals(
    subject: str,
    body: str,
    config: RulesConfig,
    language: str | None = None,
    candidates: Sequence[int] | None = None,
    scanned: tuple[str, bytes, list[Span]] | None = None,
    found_by: Mapping[int, list[Span]] | None = None,
    exact: bool | None = None,
) -> SignalReport:
    """Find every signal of ``config`` in the subject and body of a ticket.

    ``language`` forces the explanation language; otherwise it is detected from the text.
    Evidence offsets are relative to the field (``subject`` or ``body``) they were found in.
    Only the patterns the prefilter names are run; they come in scan order (lexicon, signal,
    pattern), so the evidence is listed in that order. When the caller has them already
    (``extract_many`` prepares a whole batch): ``scanned``, the text's ``_fold_for_scan``;
    ``candidates``, the prefilter's answer for it; ``found_by``, the spans of some of the
    candidate patterns (the others are scanned here); ``exact``, ``exact_on`` of the text.
    """
    original = f"{subject}\n{body}" if subject else body
    body_offset = len(subject) + 1 if subject else 0
    folded, data, hidden = scanned if scanned is not None else _fold_for_scan(original, config)
    # Where RE2 finds what Python's re finds (most tickets), exact patterns run on RE2.
    on_re2 = exact_on(folded) if exact is None else exact
    lang = language or detect_language(folded, config.lexicons, data=data if on_re2 else None)

    patterns = config.patterns
    if candidates is None:
        candidates = (
            config.prefilter.candidates_in(data)
            if config.prefilter is not None
            else range(len(patterns))
        )
    negation = config.negation_cues.search
    hedge = config.hedge_cues.search if config.hedge_cues is not None else None
    # Per lexicon: positive matches, negated ones counted as another signal, negated ones.
    per_lexicon: dict[str, tuple[list[Evidence], list[Evidence], list[Evidence]]] = {}
    current: tuple[Lexicon, CompiledSignal] | None = None
    spans: set[tuple[int, int]] = set()  # patterns of one signal may match one span
    positive: list[Evidence] = []
    redirected: list[Evidence] = []
    negated: list[Evidence] = []
    # The keys the merge below gives the matches of the lexicons before the current one (in
    # the lexicons' order): a match of the current lexicon with one of them would be dropped
    # there, so it is not built (in long tickets, half the matches: both lexicons name
    # "inbox", "templates", "error"...). Only completed, earlier lexicons are counted.
    earlier: set[tuple[str, str, int, int, bool]] = set()
    counted: set[str] = set()
    for position in candidates:
        ref = patterns[position]
        lex, sig = ref.lexicon, ref.signal
        if current is None or current[0] is not lex or current[1] is not sig:
            if current is not None and current[0] is not lex:
                _count_earlier(config, lex.language, per_lexicon, counted, earlier)
            current, spans = (lex, sig), set()  # the patterns of a signal are consecutive
            if (lists := per_lexicon.get(lex.language)) is None:
                lists = per_lexicon[lex.language] = ([], [], [])
            positive, redirected, negated = lists
        found: Iterable[tuple[int, int]]
        if found_by is not None and position in found_by:
            found = found_by[position]
        elif on_re2 and ref.exact is not None and ref.exact.applies(folded):
            found = ref.exact.spans(data)
        else:
            found = (m.span() for m in ref.regex.finditer(folded))
        for span in found:
            start, end = span
            if end <= start or span in spans:
                continue
            spans.add(span)
            if start < body_offset:
                where, at, to = "subject", start, end
            else:
                where, at, to = "body", start - body_offset, end - body_offset
            # The words before the match in its clause: a negation there files the match as
            # negated, a hedge marks it hedged.
            context = _preceding_clause(folded, start, lex) if sig.negatable else ""
            if context and negation(context):
                redirect = sig.negated_as
                if (sig.name, where, at, to, False) in earlier and (
                    redirect is None or (redirect, where, at, to, True) in earlier
                ):
                    continue
                text = original[start:end].strip()
                hedged = bool(hedge is not None and hedge(context))
                negated.append(Evidence(sig.name, where, at, to, text, lex.language, hedged))
                if redirect is not None:
                    redirected.append(Evidence(redirect, where, at, to, text, lex.language))
            elif (sig.name, where, at, to, True) not in earlier:
                hedged = bool(context and hedge is not None and hedge(context))
                text = original[start:end].strip()
                positive.append(Evidence(sig.name, where, at, to, text, lex.language, hedged))

    evidence: dict[str, list[Evidence]] = {}
    negated_all: list[Evidence] = []
    seen: set[tuple[str, str, int, int, bool]] = set()  # lexicons may match the same span
    for language_found in config.lexicons:
        if (found_lists := per_lexicon.get(language_found)) is None:
            continue
        pos, redirected, neg = found_lists
        for ev in (*pos, *redirected):
            if (key := (ev.signal, ev.field, ev.start, ev.end, True)) not in seen:
                seen.add(key)
                evidence.setdefault(ev.signal, []).append(ev)
        for ev in neg:
            if (key := (ev.signal, ev.field, ev.start, ev.end, False)) not in seen:
                seen.add(key)
                negated_all.append(ev)
    facts = {name: name in evidence for name in config.signal_names}
    return SignalReport(
        facts=facts,
        evidence=evidence,
        negated=negated_all,
        language=lang,
        # ``original`` has no leading newline without a subject; the model's text does.
        hidden_from_model=tuple(hidden) if subject else tuple((s + 1, e + 1) for s, e in hidden),
    )


def _count_earlier(
    config: RulesConfig,
    language: str,
    per_lexicon: Mapping[str, tuple[list[Evidence], list[Evidence], list[Evidence]]],
    counted: set[str],
    earlier: set[tuple[str, str, int, int, bool]],
) -> None:
    """Add to ``earlier`` the merge keys of the matches of every lexicon before ``language`` in
    the lexicons' order that has matches and is not ``counted`` yet. Candidates out of scan
    order (a lexicon met again after a later one) end the skipping: nothing is left out."""
    if language in counted:
        earlier.clear()
        counted.update(config.lexicons)
        return
    for before in config.lexicons:
        if before == language:
            return
        if before in counted or (lists := per_lexicon.get(before)) is None:
            continue
        counted.add(before)
        pos, redirected, neg = lists
        earlier.update((ev.signal, ev.field, ev.start, ev.end, True) for ev in (*pos, *redirected))
        earlier.update((ev.signal, ev.field, ev.start, ev.end, False) for ev in neg)


def extract_many(
    tickets: Sequence[tuple[str, str, str | None]], config: RulesConfig
) -> list[SignalReport]:
    """``extract_signals`` of each (subject, body, language) of a batch, the same reports. The
    quote gate, the prefilter's sets and each exact pattern run over the whole batch one RE2
    automaton at a time (between two tickets, the rest of triage evicts them from the CPU's
    caches); then each ticket's matches are filed as ``extract_signals`` files them."""
    folds = [fold(f"{subject}\n{body}" if subject else body) for subject, body, _ in tickets]
    datas = [stand_in_bytes(folded) for folded in folds]
    # Each marker gate over the whole batch first (its automaton stays in cache meanwhile).
    boiler, gate = config.boilerplate_prefilter, config.quote_prefilter
    formal = [boiler.candidates(d) for d in datas] if boiler is not None else [None] * len(datas)
    quoted = [gate.candidates(d) for d in datas] if gate is not None else [None] * len(datas)
    scans = [
        _blank_both(folded, data, config, maybe_boilerplate, maybe_quote)
        for folded, data, maybe_boilerplate, maybe_quote in zip(
            folds, datas, formal, quoted, strict=True
        )
    ]
    if config.prefilter is None:
        return [
            extract_signals(s, b, config, lang, None, scan)
            for (s, b, lang), scan in zip(tickets, scans, strict=True)
        ]
    candidates = config.prefilter.candidates_of_many([data for _, data, _ in scans])
    # Each pattern over the batch's texts where it may match, one pattern at a time.
    found_by: list[dict[int, list[Span]]] = [{} for _ in scans]
    exact = [exact_on(folded) for folded, _, _ in scans]
    takers: dict[int, list[int]] = {}
    for i in range(len(scans)):
        if exact[i]:
            for position in candidates[i]:
                takers.setdefault(position, []).append(i)
    for position in sorted(takers):
        program = config.patterns[position].exact
        if program is None:
            continue
        for i in takers[position]:
            folded, data, _ = scans[i]
            if program.applies(folded):
                found_by[i][position] = list(program.spans(data))
    return [
        extract_signals(subject, body, config, language, found, scan, spans, on_re2)
        for (subject, body, language), scan, found, spans, on_re2 in zip(
            tickets, scans, candidates, found_by, exact, strict=True
        )
    ]
