"""Labelled data in: our JSONL (data/, reviewed overrides) and other helpdesks' CSV/JSON exports.

Every file goes through ``sevtriage.io.read_records`` (JSONL or CSV, bad lines reported with their
line number). A helpdesk export names its priority column and how its values map to P1-P4
(``ImportSpec``): a preset (``urgency``: urgent/high/normal/low, ``impact``:
critical/major/minor/trivial) and/or explicit ``value=P1`` pairs. A value not in the mapping is an
error record naming the file, row and value, never a guess. Files are read in order and a later
record with the same id replaces an earlier one, so reviewed overrides go last.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sevtriage.errors import ConfigError, ConfigProblem, InputError
from sevtriage.io import read_records
from sevtriage.modelfile import LABELS

PRESETS: dict[str, dict[str, str]] = {
    "urgency": {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4"},
    "impact": {"critical": "P1", "major": "P2", "minor": "P3", "trivial": "P4"},
}
MAX_ERRORS_SHOWN = 5


@dataclass(frozen=True)
class ImportSpec:
    """Which columns hold what, and how label values map to P1-P4 (case-insensitive)."""

    label_column: str = "label"
    mapping: Mapping[str, str] = field(default_factory=dict)
    subject_column: str = "subject"
    body_column: str = "body"
    id_column: str = "id"
    language_column: str = "language"

    def label_of(self, value: str) -> str | None:
        key = value.strip().lower()
        if key.upper() in LABELS:
            return key.upper()
        return {k.strip().lower(): v for k, v in self.mapping.items()}.get(key)


def build_mapping(presets: Iterable[str] = (), pairs: Iterable[str] = ()) -> dict[str, str]:
    """A label mapping from preset names and ``value=P1`` pairs; ``ConfigError`` lists every bad
    preset or pair at once."""
    mapping: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for name in presets:
        if name not in PRESETS:
            problems.append(
                ConfigProblem("--preset", name, f"unknown preset; known: {sorted(PRESETS)}")
            )
        else:
            mapping.update(PRESETS[name])
    for pair in pairs:
        value, sep, label = pair.partition("=")
        if not sep or not value.strip() or label.strip().upper() not in LABELS:
            problems.append(
                ConfigProblem(
                    "--map", pair, f"expected VALUE=LABEL with LABEL one of {list(LABELS)}"
                )
            )
        else:
            mapping[value.strip().lower()] = label.strip().upper()
    if problems:
        raise ConfigError(problems)
    return mapping


def load_mapping_file(path: Path) -> dict[str, str]:
    """A mapping file: a JSON or YAML object ``{"urgent": "P1", ...}``."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([ConfigProblem(str(path), "", f"cannot be read: {exc}")]) from exc
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(str(path), "", "must be an object of value: P1..P4")])
    return build_mapping(pairs=[f"{k}={v}" for k, v in data.items()])


def _text(record: Mapping[str, Any], column: str) -> str:
    value = record.get(column)
    return "" if value is None else str(value)


def convert_record(record: Mapping[str, Any], spec: ImportSpec, where: str) -> dict[str, Any]:
    """One source record as a labelled record (id, subject, body, language, label)."""
    raw = record.get(spec.label_column)
    if raw is None or str(raw).strip() == "":
        raise InputError(
            "missing_label", f"{where}: no value in column {spec.label_column!r}", spec.label_column
        )
    label = spec.label_of(str(raw))
    if label is None:
        known = sorted({*(k.lower() for k in spec.mapping), *LABELS})
        raise InputError(
            "unknown_label",
            f"{where}: label value {str(raw)!r} is not in the mapping (known: {known}); "
            f"add it with --map '{str(raw).strip()}=P<n>'",
            spec.label_column,
        )
    body = _text(record, spec.body_column)
    subject = _text(record, spec.subject_column)
    if not body.strip() and not subject.strip():
        raise InputError(
            "empty_text", f"{where}: the subject and body are both empty", spec.body_column
        )
    out: dict[str, Any] = {
        "id": _text(record, spec.id_column) or where,
        "subject": subject,
        "body": body,
        "label": label,
    }
    language = _text(record, spec.language_column).strip().lower()
    if language:
        out["language"] = language
    for name in _SLA_FIELDS:  # kept for backtests: deadlines and would-have-breached shares
        if record.get(name) not in (None, ""):
            out[name] = record[name]
    return out


_SLA_FIELDS = ("plan", "created_at", "timezone", "country", "first_response_at", "resolved_at")


def import_file(
    path: Path, spec: ImportSpec | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The labelled records of ``path`` and an error record (file, line, id, error) per bad row.
    JSON arrays (``.json`` files starting with ``[``) are read whole; JSONL and CSV line by line."""
    spec = spec or ImportSpec()
    records: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for line, item in _rows(path):
        where = f"{path}:{line}"
        try:
            if isinstance(item, InputError):
                raise item
            records.append(convert_record(item, spec, where))
        except InputError as exc:
            known = item.get(spec.id_column) if isinstance(item, Mapping) else None
            errors.append({"file": str(path), "line": line, "id": known, "error": exc.as_dict()})
    return records, errors


def _rows(path: Path) -> Iterable[tuple[int, dict[str, Any] | InputError]]:
    try:
        head = path.read_bytes()[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    except OSError as exc:
        raise InputError("unreadable", f"{path}: {exc.strerror}", "path") from None
    if path.suffix.lower() == ".json" and head.startswith(b"["):
        try:
            items = json.loads(path.read_text(encoding="utf-8-sig"))
        except ValueError as exc:
            raise InputError("invalid_json", f"{path}: not valid JSON: {exc}", "path") from None
        return [
            (i, item if isinstance(item, dict) else InputError("not_an_object", "not an object"))
            for i, item in enumerate(items, start=1)
        ]
    with open(path, "rb") as fh:
        return list(read_records(fh, "auto", str(path)))


def _attach_groups(records: list[dict[str, Any]], path: Path) -> None:
    """Take ``concept_id`` from a ``<name>.meta.jsonl`` sidecar (data/) as the CV group."""
    sidecar = path.with_suffix(".meta.jsonl")
    if not sidecar.is_file():
        return
    concept = {}
    with open(sidecar, encoding="utf-8") as fh:
        for line in fh:
            meta = json.loads(line)
            concept[str(meta.get("id"))] = meta.get("concept_id")
    for record in records:
        group = concept.get(str(record["id"]))
        if group is not None:
            record["group"] = group


def read_labelled(
    paths: Sequence[Path], spec: ImportSpec | None = None, groups: bool = False
) -> list[dict[str, Any]]:
    """All labelled records of ``paths``; a later record with the same id replaces an earlier
    one. Raises ``InputError`` naming the first bad rows when any row is bad."""
    merged: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    for path in map(Path, paths):
        records, bad = import_file(path, spec)
        if groups:
            _attach_groups(records, path)
        errors.extend(bad)
        for record in records:
            merged.pop(str(record["id"]), None)
            merged[str(record["id"])] = record
    if errors:
        shown = "; ".join(
            f"{e['file']}:{e['line']}: {e['error']['message']}" for e in errors[:MAX_ERRORS_SHOWN]
        )
        more = (
            f" (and {len(errors) - MAX_ERRORS_SHOWN} more)"
            if len(errors) > MAX_ERRORS_SHOWN
            else ""
        )
        raise InputError("bad_labelled_data", f"{len(errors)} bad row(s): {shown}{more}", "label")
    if not merged:
        raise InputError("no_data", f"no labelled records in {[str(p) for p in paths]}", "path")
    return list(merged.values())
