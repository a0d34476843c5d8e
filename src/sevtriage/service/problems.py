"""Every client mistake becomes a 4xx with the same body: ``{"detail": [problem, ...]}`` where a
problem is ``{"loc", "field", "code", "msg"}`` (``loc`` as FastAPI writes it, e.g.
``["body", 3, "created_at"]`` for the fourth ticket of a batch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sevtriage.errors import InputError


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
