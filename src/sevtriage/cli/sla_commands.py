"""``sevtriage sla`` (deadlines of one ticket) and ``sevtriage escalations`` (sweep an event log).

Thin layers over ``sevtriage.sla``, ``sevtriage.clock`` and ``sevtriage.escalation``. Exit status:
0 success; 1 some input lines were error records; 2 usage or configuration error (one line).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar

import click

from sevtriage.cli.options import rules_dir_option
from sevtriage.clock import TicketEvent, parse_event, parse_instant
from sevtriage.errors import ConfigError, InputError, SevtriageError
from sevtriage.escalation import sweep_events
from sevtriage.io import dump_line, read_jsonl
from sevtriage.sla import SlaPolicies

_P = ParamSpec("_P")
_R = TypeVar("_R")


class _Failed(click.ClickException):
    exit_code = 2


def _one_line(exc: SevtriageError) -> str:
    if isinstance(exc, ConfigError):
        return f"{len(exc.problems)} problem(s) in the SLA files: " + "; ".join(
            str(p) for p in exc.problems
        )
    return " ".join(str(exc).split())


def _clean_errors(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Any ``SevtriageError`` becomes a one-line message and exit status 2, never a traceback."""

    @wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except SevtriageError as exc:
            raise _Failed(_one_line(exc)) from None

    return wrapper


def _instant(text: str, option: str) -> datetime:
    try:
        return parse_instant(text, option)
    except InputError as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None


@click.command()
@click.option("--plan", required=True, help="Support plan, e.g. business_plus or pro.")
@click.option("--severity", required=True, help="Severity P1-P4.")
@click.option(
    "--created-at", "created_text", required=True, metavar="ISO-8601",
    help="Creation instant with its UTC offset, e.g. 2026-11-13T15:00:00-06:00.",
)  # fmt: skip
@click.option("--timezone", required=True, help="The account's IANA time zone.")
@click.option("--country", default=None, help="The account's ISO 3166 country (for holidays).")
@rules_dir_option
@_clean_errors
def sla(
    plan: str,
    severity: str,
    created_text: str,
    timezone: str,
    country: str | None,
    rules_dir: Path | None,
) -> None:
    """Print a ticket's first-response and resolution deadlines as JSON.

    Deadlines are ISO-8601 instants in the account's time zone; a plan without an SLA policy
    prints {"applies": false, "reason": ...}.
    """
    created_at = _instant(created_text, "--created-at")
    policies = SlaPolicies.load(rules_dir)
    result = policies.deadlines(plan, severity, created_at, timezone, country)
    click.echo(dump_line(result.as_dict()), nl=False)


def _error_record(ticket_id: Any, line: int | None, exc: InputError) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "line": line, "error": exc.as_dict()}


def _read_events(stream: IO[bytes], out: IO[str]) -> tuple[list[TicketEvent], int]:
    """Valid events in order; bad lines and out-of-order tickets become error records on ``out``."""
    events: list[TicketEvent] = []
    last: dict[str, datetime] = {}
    bad: set[str] = set()
    errors = 0
    for line, record in read_jsonl(stream):
        ticket_id = record.get("ticket_id") if isinstance(record, dict) else None
        try:
            if isinstance(record, InputError):
                raise record
            event = parse_event(record)
            if event.ticket_id in last and event.at < last[event.ticket_id]:
                msg = (
                    f"{event.type} at {event.at.isoformat()} is before the ticket's previous event"
                )
                raise InputError("events_out_of_order", msg, "at")
        except InputError as exc:
            out.write(dump_line(_error_record(ticket_id, line, exc)))
            errors += 1
            if isinstance(ticket_id, str):
                bad.add(ticket_id)
            continue
        last[event.ticket_id] = event.at
        events.append(event)
    return [e for e in events if e.ticket_id not in bad], errors


@click.command()
@click.argument("events_path", metavar="EVENTS.jsonl", default="-")
@click.option(
    "--at", "at_text", metavar="ISO-8601",
    help="The instant of the sweep (default: the current time).",
)  # fmt: skip
@rules_dir_option
@_clean_errors
def escalations(events_path: str, at_text: str | None, rules_dir: Path | None) -> None:
    """Replay ticket events (JSONL) and print what to escalate at --at, one JSON line each.

    Each line of EVENTS.jsonl is an event {"ticket_id", "type", "at", ...}: created (plan, severity,
    timezone, country), first_response_sent, waiting_on_customer, customer_replied,
    severity_changed (severity, by), resolved, reopened, escalated (target, level). Escalations
    already recorded as 'escalated' events are not repeated. A bad line or ticket becomes an error
    record {"ticket_id", "line", "error": {"code", "field", "message"}} and the exit status is 1.
    """
    now = _instant(at_text, "--at") if at_text else datetime.now(UTC)
    policies = SlaPolicies.load(rules_dir)
    out = sys.stdout
    try:
        stream: IO[bytes] = sys.stdin.buffer if events_path == "-" else open(events_path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise click.BadParameter(
            f"cannot open: {exc.strerror}", param_hint="EVENTS.jsonl"
        ) from None
    try:
        events, errors = _read_events(stream, out)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    result = sweep_events(events, policies, now)
    for problem in result.problems:
        if problem.code == "no_sla_policy":
            click.echo(
                f"sevtriage escalations: ticket {problem.ticket_id}: {problem.message}", err=True
            )
            continue
        error = InputError(problem.code, problem.message, problem.field)
        out.write(dump_line(_error_record(problem.ticket_id, None, error)))
        errors += 1
    for escalation in result.escalations:
        out.write(dump_line(escalation.as_dict()))
    out.flush()
    sys.exit(1 if errors else 0)
