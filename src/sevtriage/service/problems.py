"""Every client mistake becomes a 4xx with the same body: ``{"detail": [problem, ...]}`` where a
problem is ``{"loc", "field", "code", "msg"}`` (``loc`` as FastAPI writes it, e.g.
``["body", 3, "created_at"]`` for the fourth ticket of a batch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sevtriage.errors import ConfigError, InputError, ModelError
from sevtriage.integrity import ManifestProblem


@dataclass(frozen=True)
class Problem:
    code: str
    field: str | None
    message: str
    index: int | None = None  # position in a batch

    @classmethod
    def from_input_error(cls, error: InputError, index: int | None = None) -> Problem:
        return cls(error.code, error.field, error.message, index)

    def as_dict(self) -> dict[str, Any]:
        loc: list[str | int] = ["body"]
        if self.index is not None:
            loc.append(self.index)
        if self.field is not None:
            loc.append(self.field)
        return {"loc": loc, "field": self.field, "code": self.code, "msg": self.message}


class BatchInputError(InputError):
    """One or more records of a request are invalid; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(
            first.code, f"{len(problems)} invalid record(s): {first.message}", first.field
        )


class ConflictError(InputError):
    """The request is well-formed but the ticket's state forbids it (HTTP 409)."""

    status = 409


class RefusedError(InputError):
    """The request is well-formed but the policy refuses it, e.g. a plan that may not escalate
    (HTTP 403); what was refused has been recorded."""

    status = 403


class UnsupportedMediaType(InputError):
    """The body is not declared as UTF-8 JSON (HTTP 415)."""

    status = 415


def load_problems(error: Exception) -> list[dict[str, Any]]:
    """A refused rules/model load (a reload) as problems: one per file problem, each naming the
    file (``loc`` ``["config", file, key]``) or the model, and what is wrong."""
    if isinstance(error, ConfigError):
        return [
            {
                "loc": ["config", p.file, *([p.location] if p.location else [])],
                "field": p.location or None,
                "file": p.file,
                "code": "integrity" if isinstance(p, ManifestProblem) else "invalid_config",
                "msg": p.message,
            }
            for p in error.problems
        ]
    if isinstance(error, ModelError):
        return [{"loc": ["model"], "field": None, "code": "model_refused", "msg": str(error)}]
    return [
        {
            "loc": [],
            "field": None,
            "code": "reload_failed",
            "msg": f"{type(error).__name__}: {error}",
        }
    ]
