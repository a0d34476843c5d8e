"""The one error hierarchy of sevtriage.

Every error names where the problem is (file, line, key, field) and, where it can, how to fix it.
The CLI turns any ``SevtriageError`` into a clean message and an exit code; the HTTP service turns
``InputError`` into a 422. Nothing else should escape to a user as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class SevtriageError(Exception):
    """Base class: everything sevtriage raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found while loading a data file (rules, lexicons, policies, calendars)."""

    file: str
    location: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.location}" if self.location else self.file
        return f"{where}: {self.message}"


class ConfigError(SevtriageError):
    """A rules/lexicon/policy/calendar file is invalid; lists every problem found, not the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the configuration:\n{lines}")


class InputError(SevtriageError):
    """One input record (ticket, event, request) is invalid.

    ``code`` is a stable machine-readable identifier, ``field`` the offending field (or None
    when the record as a whole is bad, e.g. invalid JSON).
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        self.code = code
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "field": self.field, "message": self.message}


class EngineError(SevtriageError):
    """The rules engine failed while evaluating a ticket (an action raised, a state was corrupt)."""


class ModelError(SevtriageError):
    """A model file cannot be used: missing, hash mismatch, incompatible library, corrupt."""


class SlaError(SevtriageError):
    """An SLA computation cannot be done: unknown plan/calendar/zone, bad dates, bad events."""
