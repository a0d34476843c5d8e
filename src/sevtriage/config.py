"""Loading and validating the triage data files in ``rules/``.

Files (all YAML):

- ``signals.yaml``: the vocabulary of facts (signal name -> description).
- ``lexicons/<lang>.yaml``: per-language patterns that turn text into those facts.
- ``severity.yaml``: the severity rules over the facts (run by the rules engine).

Every problem in every file is collected and raised together as one ``ConfigError`` naming the file
and key, so an analyst fixes a broken edit in one pass. Nothing here touches the rules engine.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sevtriage.errors import ConfigError, ConfigProblem
from sevtriage.integrity import verify_rules_dir
from sevtriage.prefilter import Gate, Prefilter, exact_program

SEVERITIES: tuple[str, ...] = ("P1", "P2", "P3", "P4")
SEVERITY_LABELS: dict[str, str] = {"P1": "Urgent", "P2": "High", "P3": "Medium", "P4": "Low"}
# Names the engine keeps in its session state or that mark a ticket fact: a signal may not use them
# (a condition on a state field makes durable-rules loop forever).
RESERVED_NAMES = frozenset({"id", "sid", "fired", "ticket", "exception", "label", "$s"})
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_M = TypeVar("_M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelInput(_Strict):
    """What the fallback model reads besides the ticket without its e-mail boilerplate."""

    # Quoted earlier messages are hidden from the model too once the customer's own words
    # (outside quotes and boilerplate, subject included) reach this many; None: never.
    hide_quotes_from_words: int | None = Field(default=None, ge=0)


class SignalsFile(_Strict):
    version: int
    signals: dict[str, str] = Field(min_length=1)
    model_input: ModelInput = Field(default_factory=ModelInput)


class NegationSpec(_Strict):
    cues: list[str] = Field(min_length=1)
    window: int = Field(default=4, ge=1, le=12)
    breaks: list[str] = Field(default_factory=list)


class SignalPatterns(_Strict):
    patterns: list[str] = Field(min_length=1)
    negated_as: str | None = None
    negatable: bool = True


class LexiconFile(_Strict):
    language: str = Field(pattern=r"^[a-z]{2,3}$")
    name: str
    stopwords: list[str] = Field(min_length=5)
    negation: NegationSpec
    hedges: list[str] = Field(default_factory=list)
    quote_markers: list[str] = Field(default_factory=list)
    # E-mail boilerplate (legal disclaimers, privacy notices, "sent from my phone"): blanked for
    # the signals like a quote, and for the model too (a quoted earlier message is kept there).
    boilerplate_markers: list[str] = Field(default_factory=list)
    # Named pieces of regular expression that patterns use as <<name>> (one alternation written
    # once, e.g. the names of a document, instead of copied into every pattern).
    fragments: dict[str, str] = Field(default_factory=dict)
    signals: dict[str, SignalPatterns]


_FRAGMENT_REF = re.compile(r"<<([a-z][a-z0-9_]*)>>")
_FRAGMENT_NAME = re.compile(r"[a-z][a-z0-9_]*")


class Condition(_Strict):
    all: list[str] = Field(default_factory=list)
    any: list[str] = Field(default_factory=list)
    none: list[str] = Field(default_factory=list)

    def signal_names(self) -> list[str]:
        return [*self.all, *self.any, *self.none]


class SeverityRule(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    severity: Literal["P1", "P2", "P3", "P4"]
    priority: int = Field(ge=1)
    confidence: float = Field(gt=0.0, le=1.0)
    when: Condition
    explain: dict[str, str]


class SeverityFile(_Strict):
    version: int
    default_severity: Literal["P1", "P2", "P3", "P4"]
    default_confidence: float = Field(ge=0.0, le=1.0)
    review_below: float = Field(ge=0.0, le=1.0)
    hedge_penalty: float = Field(default=0.15, ge=0.0, le=1.0)
    no_rule_explain: dict[str, str]
    rules: list[SeverityRule] = Field(min_length=1)


@dataclass(frozen=True)
class CompiledSignal:
    name: str
    patterns: tuple[re.Pattern[str], ...]
    negated_as: str | None
    negatable: bool


@dataclass(frozen=True)
class Lexicon:
    language: str
    name: str
    stopwords: frozenset[str]
    negation_words: tuple[str, ...]
    hedge_words: tuple[str, ...]
    negation_window: int
    clause_break: re.Pattern[str]
    quote_markers: tuple[re.Pattern[str], ...]
    signals: tuple[CompiledSignal, ...]
    boilerplate_markers: tuple[re.Pattern[str], ...] = ()
    # The stopwords as ASCII bytes, for language detection on encoded text (signals.py).
    stopword_bytes: frozenset[bytes] = frozenset()


_NAMED_GROUP = re.compile(r"\(\?P<\w+>")


def _any_of(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One multi-line regex matching where any of ``patterns`` does (None for no patterns). Named
    groups (a marker's "blank") become plain ones: two patterns may name the same group."""
    distinct = dict.fromkeys(_NAMED_GROUP.sub("(?:", p) for p in patterns)
    if not distinct:
        return None
    return re.compile("|".join(f"(?:{p})" for p in distinct), re.MULTILINE)


@dataclass(frozen=True)
class PatternRef:
    """One lexicon pattern with its lexicon and signal; ``RulesConfig.patterns`` lists them in
    scan order (lexicon, signal, pattern) and the prefilter names them by that position."""

    lexicon: Lexicon
    signal: CompiledSignal
    regex: re.Pattern[str]
    # The same pattern on RE2 (prefilter.ExactProgram), used on texts where it finds the same
    # matches (prefilter.exact_on); None when only Python's engine is exact.
    exact: Any = None


@dataclass(frozen=True)
class RulesConfig:
    """Everything the triage core needs from ``rules/``, validated, with its version."""

    directory: Path
    signal_names: tuple[str, ...]
    signal_descriptions: dict[str, str]
    lexicons: dict[str, Lexicon]
    severity: SeverityFile
    version: str
    files: tuple[Path, ...] = field(default=())
    # Negation and hedge cues of all languages together: a mixed-language ticket negates in any.
    negation_cues: re.Pattern[str] = re.compile(r"(?!x)x")
    hedge_cues: re.Pattern[str] | None = None
    # Every lexicon pattern in scan order, and which of them may match a text, found in one
    # pass (see prefilter.py).
    patterns: tuple[PatternRef, ...] = ()
    prefilter: Prefilter | None = None
    # Matches where any lexicon's quote marker does: most tickets quote nothing (one pass);
    # ``quote_prefilter`` says on RE2 whether it may (see prefilter.Gate).
    quote_gate: re.Pattern[str] | None = None
    quote_prefilter: Gate | None = None
    # The same for the e-mail boilerplate markers, which are blanked first.
    boilerplate_gate: re.Pattern[str] | None = None
    boilerplate_prefilter: Gate | None = None
    # signals.yaml's model_input.hide_quotes_from_words (see ModelInput).
    hide_quotes_from_words: int | None = None

    @cached_property
    def quote_markers(self) -> tuple[re.Pattern[str], ...]:
        """Every lexicon's quote markers, in the lexicons' order (built once: every ticket
        asks)."""
        return tuple(m for lex in self.lexicons.values() for m in lex.quote_markers)

    @cached_property
    def boilerplate_markers(self) -> tuple[re.Pattern[str], ...]:
        """Every lexicon's boilerplate markers, in the lexicons' order (built once)."""
        return tuple(m for lex in self.lexicons.values() for m in lex.boilerplate_markers)


def default_rules_dir() -> Path:
    """The rules folder: ``$SEVTRIAGE_RULES_DIR`` or the repository's ``rules/``."""
    env = os.environ.get("SEVTRIAGE_RULES_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "rules"
    if not path.is_dir():
        raise ConfigError(
            [ConfigProblem(str(path), "", "rules directory not found; set SEVTRIAGE_RULES_DIR")]
        )
    return path


def files_version(prefix: str, files: list[Path], root: Path) -> str:
    """A short content hash over the files' relative names and bytes: changes iff a file changes."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return f"{prefix}-{digest.hexdigest()[:12]}"


def read_yaml(path: Path, problems: list[ConfigProblem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(ConfigProblem(str(path), "", "required file is missing"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(ConfigProblem(str(path), "", f"cannot read file: {exc}"))
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        problems.append(ConfigProblem(str(path), where, f"invalid YAML: {reason}"))
        return None


def validate_model(
    model: type[_M], data: Any, path: Path, problems: list[ConfigProblem]
) -> _M | None:
    if data is None:
        problems.append(ConfigProblem(str(path), "", "file is empty or unreadable"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
            problems.append(ConfigProblem(str(path), loc, err["msg"]))
        return None


def _compile(pattern: str, path: Path, loc: str, problems: list[ConfigProblem]) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        problems.append(ConfigProblem(str(path), loc, f"bad regular expression {pattern!r}: {exc}"))
        return None
    return pattern


def _fragments(lex: LexiconFile, path: Path, problems: list[ConfigProblem]) -> dict[str, str]:
    """The lexicon's fragments, each a valid regex named ``[a-z][a-z0-9_]*``, not using others."""
    good: dict[str, str] = {}
    for name, fragment in lex.fragments.items():
        loc = f"fragments.{name}"
        if not _FRAGMENT_NAME.fullmatch(name):
            problems.append(ConfigProblem(str(path), loc, "a fragment name is [a-z][a-z0-9_]*"))
        elif "<<" in fragment:
            problems.append(ConfigProblem(str(path), loc, "a fragment cannot use another one"))
        elif _compile(f"(?:{fragment})", path, loc, problems) is not None:
            good[name] = f"(?:{fragment})"
    return good


def _expand(
    pattern: str,
    fragments: Mapping[str, str],
    used: set[str],
    path: Path,
    loc: str,
    problems: list[ConfigProblem],
) -> str | None:
    """``pattern`` with each ``<<name>>`` replaced by its fragment; None (and a problem naming
    the pattern) for a name the lexicon does not define."""
    names = _FRAGMENT_REF.findall(pattern)
    if unknown := [name for name in names if name not in fragments]:
        problems.append(ConfigProblem(str(path), loc, f"unknown fragment(s) {unknown}"))
        return None
    used.update(names)
    return _FRAGMENT_REF.sub(lambda m: fragments[m.group(1)], pattern)


def _words_regex(words: list[str]) -> re.Pattern[str]:
    alternatives = sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in alternatives) + r")(?!\w)")


def _build_lexicon(
    lex: LexiconFile, path: Path, vocabulary: set[str], problems: list[ConfigProblem]
) -> Lexicon | None:
    before = len(problems)
    if path.stem != lex.language:
        problems.append(
            ConfigProblem(str(path), "language", f"{lex.language!r} must match the file name")
        )
    fragments = _fragments(lex, path, problems)
    used: set[str] = set()
    compiled: list[CompiledSignal] = []
    for name, spec in lex.signals.items():
        if name not in vocabulary:
            problems.append(
                ConfigProblem(str(path), f"signals.{name}", "unknown signal (not in signals.yaml)")
            )
        if spec.negated_as is not None and spec.negated_as not in vocabulary:
            problems.append(
                ConfigProblem(
                    str(path), f"signals.{name}.negated_as", f"unknown signal {spec.negated_as!r}"
                )
            )
        good = []
        for i, pat in enumerate(spec.patterns):
            loc = f"signals.{name}.patterns[{i}]"
            expanded = _expand(pat, fragments, used, path, loc, problems)
            if expanded is not None and _compile(expanded, path, loc, problems) is not None:
                good.append(expanded)
        if good:
            patterns = tuple(re.compile(p) for p in good)
            compiled.append(CompiledSignal(name, patterns, spec.negated_as, spec.negatable))
    for unused in sorted(set(fragments) - used):
        problems.append(ConfigProblem(str(path), f"fragments.{unused}", "not used by any pattern"))
    quote = [
        p
        for i, pat in enumerate(lex.quote_markers)
        if (p := _compile(pat, path, f"quote_markers[{i}]", problems)) is not None
    ]
    boilerplate = [
        p
        for i, pat in enumerate(lex.boilerplate_markers)
        if (p := _compile(pat, path, f"boilerplate_markers[{i}]", problems)) is not None
    ]
    if len(problems) > before:
        return None
    return Lexicon(
        language=lex.language,
        name=lex.name,
        stopwords=frozenset(w.lower() for w in lex.stopwords),
        stopword_bytes=frozenset(w.lower().encode() for w in lex.stopwords if w.isascii()),
        negation_words=tuple(lex.negation.cues),
        hedge_words=tuple(lex.hedges),
        negation_window=lex.negation.window,
        clause_break=_clause_break(lex.negation.breaks),
        quote_markers=tuple(re.compile(p, re.MULTILINE) for p in quote),
        signals=tuple(compiled),
        boilerplate_markers=tuple(re.compile(p, re.MULTILINE) for p in boilerplate),
    )


def _clause_break(breaks: list[str]) -> re.Pattern[str]:
    """One regex for a lexicon's clause breaks: words (``pero``) between word boundaries, other
    strings as they are; single characters go into one class (three times faster to scan)."""
    if not breaks:
        return re.compile(r"[.;!?\n]")
    chars = [b for b in breaks if len(b) == 1 and not b.isalpha()]
    words = [re.escape(b) for b in breaks if b.isalpha()]
    others = [re.escape(b) for b in breaks if not b.isalpha() and len(b) > 1]
    parts = others
    if words:
        parts.append(rf"\b(?:{'|'.join(words)})\b")
    if chars:
        parts.append("[" + "".join(re.escape(c) for c in chars) + "]")
    return re.compile("|".join(parts))


def _check_severity(
    sev: SeverityFile, path: Path, vocab: set[str], problems: list[ConfigProblem]
) -> None:
    seen_ids: dict[str, int] = {}
    seen_pri: dict[int, str] = {}
    for i, rule in enumerate(sev.rules):
        loc = f"rules[{i}] ({rule.id})"
        if rule.id in seen_ids:
            problems.append(
                ConfigProblem(
                    str(path), loc, f"duplicate rule id (also rules[{seen_ids[rule.id]}])"
                )
            )
        seen_ids[rule.id] = i
        if rule.priority in seen_pri:
            problems.append(
                ConfigProblem(
                    str(path),
                    f"{loc}.priority",
                    f"priority {rule.priority} already used by {seen_pri[rule.priority]}",
                )
            )
        seen_pri[rule.priority] = rule.id
        if not rule.when.all and not rule.when.any:
            problems.append(
                ConfigProblem(str(path), f"{loc}.when", "needs at least one 'all' or 'any' signal")
            )
        for part in ("all", "any", "none"):
            for j, name in enumerate(getattr(rule.when, part)):
                if name not in vocab:
                    problems.append(
                        ConfigProblem(
                            str(path), f"{loc}.when.{part}[{j}]", f"unknown signal {name!r}"
                        )
                    )
        if "en" not in rule.explain:
            problems.append(
                ConfigProblem(str(path), f"{loc}.explain", "needs at least an 'en' text")
            )
    if "en" not in sev.no_rule_explain:
        problems.append(ConfigProblem(str(path), "no_rule_explain", "needs at least an 'en' text"))


def _load_severity(
    path: Path, vocab: set[str], problems: list[ConfigProblem]
) -> SeverityFile | None:
    """Validate the file, each rule on its own (so one bad rule does not hide the others)."""
    data = read_yaml(path, problems)
    raw_rules = data.get("rules") if isinstance(data, dict) else None
    if isinstance(raw_rules, list):
        good: list[SeverityRule] = []
        for i, raw in enumerate(raw_rules):
            try:
                good.append(SeverityRule.model_validate(raw))
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ".".join(str(part) for part in err["loc"])
                    problems.append(ConfigProblem(str(path), f"rules.{i}.{loc}", err["msg"]))
        data = {**data, "rules": [r.model_dump() for r in good] or raw_rules}
    severity = validate_model(SeverityFile, data, path, problems)
    if severity is not None:
        _check_severity(severity, path, vocab, problems)
    return severity


def load_rules(directory: Path | None = None) -> RulesConfig:
    """Load and validate ``signals.yaml``, ``lexicons/*.yaml`` and ``severity.yaml``.

    Raises ``ConfigError`` listing every problem found in every file.
    """
    root = directory if directory is not None else default_rules_dir()
    problems: list[ConfigProblem] = []
    signals_path = root / "signals.yaml"
    severity_path = root / "severity.yaml"
    lexicon_paths = sorted((root / "lexicons").glob("*.yaml"))
    for required in (signals_path, severity_path):
        if not required.is_file():
            problems.append(ConfigProblem(str(required), "", "required file is missing"))
    if not lexicon_paths:
        problems.append(
            ConfigProblem(str(root / "lexicons"), "", "no lexicon files (*.yaml) found")
        )
    if problems:
        raise ConfigError(problems)

    signals = validate_model(SignalsFile, read_yaml(signals_path, problems), signals_path, problems)
    vocab: set[str] = set()
    if signals is not None:
        for name in signals.signals:
            if not _NAME_RE.match(name) or name in RESERVED_NAMES:
                problems.append(
                    ConfigProblem(
                        str(signals_path),
                        f"signals.{name}",
                        "must be a lower_snake_case name and not reserved",
                    )
                )
        vocab = set(signals.signals)

    lexicons: dict[str, Lexicon] = {}
    for path in lexicon_paths:
        lex = validate_model(LexiconFile, read_yaml(path, problems), path, problems)
        if lex is not None and (built := _build_lexicon(lex, path, vocab, problems)) is not None:
            lexicons[built.language] = built

    severity = _load_severity(severity_path, vocab, problems)
    problems[:0] = verify_rules_dir(root)  # first: a truncated file explains its schema errors
    if problems:
        raise ConfigError(problems)
    assert signals is not None and severity is not None
    files = [signals_path, severity_path, *lexicon_paths]
    combination = root / "combination.yaml"  # validated by sevtriage.combine; part of the version
    if combination.is_file():
        files.append(combination)
    hedge_words = [w for lex in lexicons.values() for w in lex.hedge_words]
    patterns = tuple(
        PatternRef(lex, sig, regex, exact_program(regex.pattern))
        for lex in lexicons.values()
        for sig in lex.signals
        for regex in sig.patterns
    )
    quote_patterns = list(
        dict.fromkeys(m.pattern for lex in lexicons.values() for m in lex.quote_markers)
    )
    boilerplate_patterns = list(
        dict.fromkeys(m.pattern for lex in lexicons.values() for m in lex.boilerplate_markers)
    )
    return RulesConfig(
        negation_cues=_words_regex([w for lex in lexicons.values() for w in lex.negation_words]),
        hedge_cues=_words_regex(hedge_words) if hedge_words else None,
        patterns=patterns,
        prefilter=Prefilter(ref.regex.pattern for ref in patterns),
        quote_gate=_any_of(quote_patterns),
        quote_prefilter=Gate(quote_patterns) if quote_patterns else None,
        boilerplate_gate=_any_of(boilerplate_patterns),
        boilerplate_prefilter=Gate(boilerplate_patterns) if boilerplate_patterns else None,
        directory=root,
        signal_names=tuple(signals.signals),
        signal_descriptions=dict(signals.signals),
        hide_quotes_from_words=signals.model_input.hide_quotes_from_words,
        lexicons=lexicons,
        severity=severity,
        version=files_version("rules", files, root),
        files=tuple(files),
    )
