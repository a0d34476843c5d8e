"""The service's settings, read once from the environment at start-up.

``SEVTRIAGE_API_TOKENS="name1:token1,name2:token2"``: bearer tokens for writes; the name is what the
audit records as the actor. ``SEVTRIAGE_DATABASE_URL``: the database (default: ``sevtriage.db`` in
the working directory). ``SEVTRIAGE_MAX_BODY_BYTES``, ``SEVTRIAGE_MAX_BATCH``: request limits.
``SEVTRIAGE_REVIEW_BELOW``: confidence under which a ticket joins the review queue.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from sevtriage.errors import ConfigError, ConfigProblem
from sevtriage.store.engine import database_url

TOKENS_ENV = "SEVTRIAGE_API_TOKENS"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@")
MIN_TOKEN_CHARS = 8


def parse_tokens(raw: str) -> dict[str, str]:
    """``"name:token,..."`` -> ``{token: name}``; every problem is reported at once."""
    tokens: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for position, item in enumerate((p.strip() for p in raw.split(",")), start=1):
        if not item:
            continue
        name, sep, token = item.partition(":")
        name, token = name.strip(), token.strip()
        where = f"entry {position}"
        if not sep or not name or not token:
            problems.append(ConfigProblem(TOKENS_ENV, where, "expected name:token"))
        elif not set(name) <= _NAME_CHARS or len(name) > 64:
            problems.append(
                ConfigProblem(TOKENS_ENV, where, f"name {name!r}: use up to 64 of [A-Za-z0-9_.-@]")
            )
        elif len(token) < MIN_TOKEN_CHARS:
            problems.append(
                ConfigProblem(
                    TOKENS_ENV, where, f"token of {name!r} is shorter than {MIN_TOKEN_CHARS}"
                )
            )
        elif token in tokens:
            problems.append(ConfigProblem(TOKENS_ENV, where, f"token of {name!r} is not unique"))
        else:
            tokens[token] = name
    if problems:
        raise ConfigError(problems)
    return tokens


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigError([ConfigProblem(name, "", f"{raw!r} is not a positive integer")])
    return int(raw)


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ConfigError([ConfigProblem(name, "", f"{raw!r} is not a number in [0, 1]")])
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)  # token -> name
    max_body_bytes: int = 8 * 1024 * 1024
    max_batch: int = 1000
    review_below: float = 0.6

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        environ = dict(os.environ if env is None else env)
        return cls(
            database_url=database_url(environ),
            tokens=parse_tokens(environ.get(TOKENS_ENV, "")),
            max_body_bytes=_positive_int(environ, "SEVTRIAGE_MAX_BODY_BYTES", 8 * 1024 * 1024),
            max_batch=_positive_int(environ, "SEVTRIAGE_MAX_BATCH", 1000),
            review_below=_fraction(environ, "SEVTRIAGE_REVIEW_BELOW", 0.6),
        )
