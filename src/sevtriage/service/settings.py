"""The service's settings, read once from the environment at start-up.

``SEVTRIAGE_API_TOKENS="name1:token1,name2:token2"``: bearer tokens for writes; the name is what the
audit records as the actor. ``SEVTRIAGE_DATABASE_URL``: the database (default: ``sevtriage.db`` in
the working directory). ``SEVTRIAGE_MAX_BODY_BYTES``, ``SEVTRIAGE_MAX_BATCH``: request limits.
``SEVTRIAGE_REVIEW_BELOW``: confidence under which a ticket joins the review queue.
``SEVTRIAGE_RULES_DIR`` (default: the bundled ``rules/``) and ``SEVTRIAGE_MODEL`` (default:
``models/default.joblib``): what the service loads at start and again on each reload.
``SEVTRIAGE_ADMIN_TOKENS="name:token,..."``: the tokens that may ``POST /v1/admin/reload`` (same
format as the API tokens; unset = reloading over HTTP is off, SIGHUP still reloads).
``SEVTRIAGE_WARM_UP_TICKETS``: how many of the store's latest tickets a new triager triages before
it serves, at start and at each reload (default 1,000; 0: none; ``service.startup``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sevtriage.errors import ConfigError, ConfigProblem
from sevtriage.store.engine import database_url

TOKENS_ENV = "SEVTRIAGE_API_TOKENS"
ADMIN_TOKENS_ENV = "SEVTRIAGE_ADMIN_TOKENS"
RULES_DIR_ENV = "SEVTRIAGE_RULES_DIR"
MODEL_ENV = "SEVTRIAGE_MODEL"  # the same variable as ``sevtriage classify --model``
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@")
MIN_TOKEN_CHARS = 8


def parse_tokens(raw: str, env_name: str = TOKENS_ENV) -> dict[str, str]:
    """``"name:token,..."`` (read from ``env_name``) -> ``{token: name}``; every problem is
    reported at once."""
    tokens: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for position, item in enumerate((p.strip() for p in raw.split(",")), start=1):
        if not item:
            continue
        name, sep, token = item.partition(":")
        name, token = name.strip(), token.strip()
        where = f"entry {position}"
        if not sep or not name or not token:
            problems.append(ConfigProblem(env_name, where, "expected name:token"))
        elif not set(name) <= _NAME_CHARS or len(name) > 64:
            problems.append(
                ConfigProblem(env_name, where, f"name {name!r}: use up to 64 of [A-Za-z0-9_.-@]")
            )
        elif len(token) < MIN_TOKEN_CHARS:
            problems.append(
                ConfigProblem(
                    env_name, where, f"token of {name!r} is shorter than {MIN_TOKEN_CHARS}"
                )
            )
        elif token in tokens:
            problems.append(ConfigProblem(env_name, where, f"token of {name!r} is not unique"))
        else:
            tokens[token] = name
    if problems:
        raise ConfigError(problems)
    return tokens


def _whole_number(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        kind = "a positive integer" if minimum == 1 else f"a whole number ({minimum} or more)"
        raise ConfigError([ConfigProblem(name, "", f"{raw!r} is not {kind}")])
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


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw) if raw else None


@dataclass(frozen=True)
class Settings:
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)  # token -> name
    max_body_bytes: int = 8 * 1024 * 1024
    max_batch: int = 1000
    review_below: float = 0.6
    rules_dir: Path | None = None  # None: $SEVTRIAGE_RULES_DIR at load time, else bundled rules/
    model_path: Path | None = None  # None: models/default.joblib
    admin_tokens: dict[str, str] = field(default_factory=dict)  # token -> name
    warm_up_tickets: int = 1000  # recent stored tickets a new triager sees first (0: none)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        environ = dict(os.environ if env is None else env)
        return cls(
            database_url=database_url(environ),
            tokens=parse_tokens(environ.get(TOKENS_ENV, "")),
            max_body_bytes=_whole_number(environ, "SEVTRIAGE_MAX_BODY_BYTES", 8 * 1024 * 1024),
            max_batch=_whole_number(environ, "SEVTRIAGE_MAX_BATCH", 1000),
            review_below=_fraction(environ, "SEVTRIAGE_REVIEW_BELOW", 0.6),
            rules_dir=_path(environ, RULES_DIR_ENV),
            model_path=_path(environ, MODEL_ENV),
            admin_tokens=parse_tokens(environ.get(ADMIN_TOKENS_ENV, ""), ADMIN_TOKENS_ENV),
            warm_up_tickets=_whole_number(environ, "SEVTRIAGE_WARM_UP_TICKETS", 1000, minimum=0),
        )
