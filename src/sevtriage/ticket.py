"""Validating one input ticket. Every problem becomes an ``InputError`` naming the field.

Accepted fields (anything else is kept in ``extra`` and ignored):
``id`` (string; an integer is accepted and turned into a string), ``body`` (non-empty string),
``subject``, ``created_at`` (ISO-8601 with a UTC offset), ``plan``, ``timezone`` (IANA name),
``country`` (ISO 3166 alpha-2), ``language``, ``channel``, ``requester``, ``tags`` (list of strings
or one comma-separated string), ``severity`` (P1..P4: skip classification, only compute the SLA).
Empty strings in optional fields (as CSV produces) mean "absent".
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sevtriage.calendars import zone_named
from sevtriage.config import SEVERITIES
from sevtriage.errors import InputError, SlaError

MAX_ID_CHARS = 256
MAX_SUBJECT_CHARS = 2_000
MAX_BODY_CHARS = 100_000
_KNOWN = frozenset(
    {
        "id",
        "subject",
        "body",
        "created_at",
        "plan",
        "timezone",
        "country",
        "language",
        "channel",
        "requester",
        "tags",
        "severity",
    }
)
_PLAN_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_SURROGATE = re.compile("[\ud800-\udfff]")  # undecodable bytes read with surrogateescape


@dataclass(frozen=True)
class Ticket:
    id: str
    body: str
    subject: str = ""
    created_at: datetime | None = None
    plan: str | None = None
    timezone: str | None = None
    country: str | None = None
    language: str | None = None
    channel: str | None = None
    requester: str | None = None
    tags: tuple[str, ...] = ()
    severity: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _optional_str(record: Mapping[str, Any], name: str, max_chars: int = 512) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError("wrong_type", f"must be a string, got {type(value).__name__}", name)
    value = value.strip()
    if len(value) > max_chars:
        raise InputError("too_large", f"is {len(value)} characters; the limit is {max_chars}", name)
    return value or None


def _check_text(value: str, name: str) -> None:
    if "\x00" in value:
        raise InputError("invalid_text", "contains a NUL character", name)
    if not value.isascii() and _SURROGATE.search(value):  # isascii: a flag, no scan
        raise InputError("invalid_utf8", "contains bytes that are not valid UTF-8", name)


MAX_JSON_DEPTH = 64  # levels inside one ticket (or request body); tickets are nearly flat


def printable(text: str) -> str:
    """``text`` shortened and with lone surrogates escaped: safe to put in a JSON answer."""
    return text[:64].encode("utf-8", "backslashreplace").decode("utf-8")


def _text_error(text: str, where: str | None, field: str | None) -> InputError | None:
    prefix = f"{where}: " if where else ""
    if "\x00" in text:
        return InputError("invalid_text", f"{prefix}contains a NUL character", field)
    if not text.isascii() and _SURROGATE.search(text):
        return InputError(
            "invalid_utf8",
            f"{prefix}contains a lone surrogate (e.g. \\ud800): not a character; send UTF-8 text",
            field,
        )
    return None


def text_problem(value: Any) -> InputError | None:
    """The first NUL, lone surrogate (in a string or a key) or too-deep nesting in ``value``,
    as an ``InputError`` naming the top-level field (None when ``value`` is fine): what a
    store or a JSON answer cannot hold, anywhere in a ticket."""
    if isinstance(value, str):  # the usual case, without the walk
        return _text_error(value, None, None)
    stack: list[tuple[Any, str, str | None, int]] = [(value, "", None, 0)]
    while stack:
        item, path, field, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return InputError(
                "too_deep", f"{path or 'the value'}: nested deeper than {MAX_JSON_DEPTH}", field
            )
        if isinstance(item, str):
            error = _text_error(item, path if path != field else None, field)
            if error is not None:
                return error
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                key_text = str(key)
                name = printable(key_text)
                if (error := _text_error(key_text, None, None)) is not None:
                    where = f"{path}: a field name" if path else "a field name"
                    return InputError(error.code, f"{where} {error.message}", field)
                top = field if depth else name
                children.append((child, f"{path}.{name}" if path else name, top, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{path}[{i}]", field, depth + 1)
                for i, child in reversed(list(enumerate(item)))
            )
    return None


def _ticket_id(record: Mapping[str, Any]) -> str:
    if "id" not in record or record["id"] is None:
        raise InputError("missing_field", "is required (a string identifying the ticket)", "id")
    raw = record["id"]
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise InputError("wrong_type", f"must be a string, got {type(raw).__name__}", "id")
    value = str(raw).strip()
    if not value:
        raise InputError("empty_field", "must not be empty", "id")
    if len(value) > MAX_ID_CHARS:
        raise InputError(
            "too_large", f"is {len(value)} characters; the limit is {MAX_ID_CHARS}", "id"
        )
    _check_text(value, "id")
    return value


def _body(record: Mapping[str, Any], max_body_chars: int) -> str:
    if record.get("body") is None:
        raise InputError("missing_field", "is required (the text of the ticket)", "body")
    body = record["body"]
    if not isinstance(body, str):
        raise InputError("wrong_type", f"must be a string, got {type(body).__name__}", "body")
    if len(body) > max_body_chars:
        raise InputError(
            "too_large", f"is {len(body)} characters; the limit is {max_body_chars}", "body"
        )
    if not body.strip():
        raise InputError("empty_field", "must not be empty", "body")
    _check_text(body, "body")
    return body


def parse_datetime(value: Any, name: str) -> datetime | None:
    """An aware datetime from ISO-8601 text; naive times are refused (which zone would they be?)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InputError(
            "wrong_type", f"must be an ISO-8601 string, got {type(value).__name__}", name
        )
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(
            "invalid_datetime", f"{value[:64]!r} is not an ISO-8601 date-time", name
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InputError(
            "naive_datetime", f"{value[:64]!r} has no UTC offset; add one, e.g. -06:00 or Z", name
        )
    return parsed


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (cached by the SLA calendars); ``InputError`` when unknown."""
    try:
        return zone_named(name)
    except SlaError:
        raise InputError(
            "unknown_timezone",
            f"{name[:64]!r} is not an IANA time zone (e.g. Europe/Madrid)",
            "timezone",
        ) from None


def _tags(record: Mapping[str, Any]) -> tuple[str, ...]:
    raw = record.get("tags")
    if raw is None or raw == "":
        return ()
    if isinstance(raw, str):
        return tuple(t.strip() for t in raw.split(",") if t.strip())
    if isinstance(raw, list) and all(isinstance(t, str) for t in raw):
        return tuple(raw)
    raise InputError("wrong_type", "must be a list of strings or a comma-separated string", "tags")


def parse_ticket(
    record: Any, languages: Collection[str], max_body_chars: int = MAX_BODY_CHARS
) -> Ticket:
    """Validate one input record into a ``Ticket``; raise ``InputError`` on the first problem."""
    if not isinstance(record, Mapping):
        raise InputError(
            "not_an_object", f"a ticket must be a JSON object, got {type(record).__name__}"
        )
    ticket_id = _ticket_id(record)
    body = _body(record, max_body_chars)
    subject = _optional_str(record, "subject", MAX_SUBJECT_CHARS) or ""
    _check_text(subject, "subject")
    plan = _optional_str(record, "plan", 64)
    if plan is not None and not _PLAN_RE.match(plan):
        raise InputError("invalid_value", f"{plan!r} is not a plan name (lower_snake_case)", "plan")
    tz = _optional_str(record, "timezone", 64)
    if tz is not None:
        zone(tz)
    country = _optional_str(record, "country", 8)
    if country is not None:
        country = country.upper()
        if not _COUNTRY_RE.match(country):
            raise InputError(
                "invalid_value", f"{country!r} is not an ISO 3166 alpha-2 code", "country"
            )
    language = _optional_str(record, "language", 8)
    if language is not None:
        language = language.lower()
        if language not in languages:
            raise InputError(
                "unknown_language",
                f"{language!r} has no lexicon; known: {sorted(languages)} (or omit it to detect)",
                "language",
            )
    severity = _optional_str(record, "severity", 8)
    if severity is not None:
        severity = severity.upper()
        if severity not in SEVERITIES:
            raise InputError(
                "invalid_value", f"{severity!r} is not one of {list(SEVERITIES)}", "severity"
            )
    channel, requester = _optional_str(record, "channel"), _optional_str(record, "requester")
    tags = _tags(record)
    extra = {k: v for k, v in record.items() if k not in _KNOWN}
    # id, subject and body are checked above; the rest is small and usually absent.
    for name, value in (("channel", channel), ("requester", requester), ("tags", list(tags))):
        if value and (problem := text_problem(value)) is not None:
            raise InputError(problem.code, problem.message, name)
    if extra and (problem := text_problem(extra)) is not None:
        raise problem  # names the extra field
    return Ticket(
        id=ticket_id,
        body=body,
        subject=subject,
        created_at=parse_datetime(record.get("created_at"), "created_at"),
        plan=plan,
        timezone=tz,
        country=country,
        language=language,
        channel=channel,
        requester=requester,
        tags=tags,
        severity=severity,
        extra=extra,
    )
