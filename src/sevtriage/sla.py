"""SLA policies as data (``rules/sla/``) and the deadlines they give a ticket.

Files (YAML, validated strictly, every problem reported at once with file and key):

- ``calendars.yaml``: named calendars (weekly open hours, holidays, extra closed dates).
- ``policies.yaml``: per plan and severity, a first-response and a resolution target, each a
  duration on a named calendar; the at-risk share.
- ``escalation.yaml``: what automatic escalation does per level, and which plans may request one.

Pure apart from ``SlaPolicies.load``: ``deadlines`` takes the creation instant as a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from sevtriage.calendars import Calendar, CalendarSpec, add_open_time_utc, place
from sevtriage.config import (
    SEVERITIES,
    default_rules_dir,
    files_version,
    read_yaml,
    validate_model,
)
from sevtriage.errors import ConfigError, ConfigProblem, SlaError
from sevtriage.integrity import verify_rules_dir

TARGETS: tuple[str, ...] = ("first_response", "resolution")
Severity = Literal["P1", "P2", "P3", "P4"]
TargetName = Literal["first_response", "resolution"]
_TARGET_NAMES: tuple[TargetName, ...] = ("first_response", "resolution")
SLA_FILES: tuple[str, ...] = ("calendars.yaml", "policies.yaml", "escalation.yaml")
_DURATION_RE = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?$")
_M = TypeVar("_M", bound=BaseModel)


def parse_duration(text: str) -> timedelta:
    """``"30m"``, ``"4h"``, ``"1h30m"``, ``"1d"`` (= 24 h of open time) -> a positive timedelta."""
    match = _DURATION_RE.match(text.strip())
    if not text.strip() or not match:
        raise ValueError(f"{text!r} is not a duration like '30m', '4h', '1h30m' or '2d'")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    value = timedelta(days=days, hours=hours, minutes=minutes)
    if value <= timedelta(0):
        raise ValueError(f"{text!r} must be longer than zero")
    return value


def _to_duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_to_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CalendarsFile(_Strict):
    version: int
    calendars: dict[str, CalendarSpec] = Field(min_length=1)


class TargetFile(_Strict):
    duration: Duration
    calendar: str


class SeverityTargetsFile(_Strict):
    first_response: TargetFile
    resolution: TargetFile


class PlanFile(_Strict):
    name: str
    assumed: bool
    source: str = ""
    targets: dict[Severity, SeverityTargetsFile]


class PoliciesFile(_Strict):
    version: int
    at_risk_share: float = Field(default=0.75, gt=0.0, lt=1.0)
    plans: dict[str, PlanFile] = Field(min_length=1)


class EscalationLevelFile(_Strict):
    level: int = Field(ge=1)
    when: Literal["at_risk", "breached"]
    late_by: Duration | None = None
    actions: list[Literal["notify", "raise_level", "raise_priority"]] = Field(min_length=1)
    notify: list[str] = Field(default_factory=list)


class CustomerRequestsFile(_Strict):
    plans: list[str]


class EscalationFile(_Strict):
    version: int
    targets: list[TargetName] = Field(default_factory=lambda: list(_TARGET_NAMES))
    levels: list[EscalationLevelFile] = Field(min_length=1)
    customer_requests: CustomerRequestsFile


@dataclass(frozen=True)
class TargetSpec:
    """One target: ``duration`` of open time on ``calendar``."""

    duration: timedelta
    calendar: Calendar


@dataclass(frozen=True)
class PlanPolicy:
    plan: str
    name: str
    assumed: bool
    targets: Mapping[str, Mapping[str, TargetSpec]]
    """severity -> target name -> spec."""


@dataclass(frozen=True)
class EscalationLevel:
    level: int
    when: Literal["at_risk", "breached"]
    late_by: timedelta
    actions: tuple[str, ...]
    notify: tuple[str, ...]


@dataclass(frozen=True)
class EscalationPolicy:
    levels: tuple[EscalationLevel, ...]
    """Ascending by level."""
    targets: tuple[str, ...]
    request_plans: frozenset[str]


def _read(path: Path, model: type[_M], problems: list[ConfigProblem]) -> _M | None:
    return validate_model(model, read_yaml(path, problems), path, problems)


def _build_calendars(
    spec: CalendarsFile, path: Path, problems: list[ConfigProblem]
) -> dict[str, Calendar]:
    from sevtriage.calendars import supported_countries

    out: dict[str, Calendar] = {}
    for name, cal in spec.calendars.items():
        for code in cal.closed_dates_by_country:
            if code.upper() not in supported_countries():
                loc = f"calendars.{name}.closed_dates_by_country.{code}"
                problems.append(ConfigProblem(str(path), loc, "unknown ISO 3166 country code"))
        try:
            out[name] = Calendar.from_spec(name, cal)
        except ValueError as exc:
            problems.append(ConfigProblem(str(path), f"calendars.{name}", str(exc)))
    return out


def _build_plans(
    spec: PoliciesFile, path: Path, calendars: dict[str, Calendar], problems: list[ConfigProblem]
) -> dict[str, PlanPolicy]:
    plans: dict[str, PlanPolicy] = {}
    for plan, pf in spec.plans.items():
        missing = [s for s in SEVERITIES if s not in pf.targets]
        if missing:
            problems.append(
                ConfigProblem(str(path), f"plans.{plan}.targets", f"missing severities {missing}")
            )
        targets: dict[str, dict[str, TargetSpec]] = {}
        for sev, st in pf.targets.items():
            targets[sev] = {}
            for tname in TARGETS:
                tf: TargetFile = getattr(st, tname)
                cal = calendars.get(tf.calendar)
                if cal is None:
                    loc = f"plans.{plan}.targets.{sev}.{tname}.calendar"
                    known = ", ".join(sorted(calendars)) or "none loaded"
                    msg = f"unknown calendar {tf.calendar!r} (known: {known})"
                    problems.append(ConfigProblem(str(path), loc, msg))
                    continue
                targets[sev][tname] = TargetSpec(tf.duration, cal)
        plans[plan] = PlanPolicy(plan, pf.name, pf.assumed, targets)
    return plans


def _build_escalation(
    spec: EscalationFile, path: Path, plans: Mapping[str, PlanPolicy], problems: list[ConfigProblem]
) -> EscalationPolicy:
    levels: list[EscalationLevel] = []
    prev: EscalationLevelFile | None = None
    for i, lf in enumerate(spec.levels):
        loc = f"levels[{i}]"
        if prev is not None and lf.level <= prev.level:
            problems.append(ConfigProblem(str(path), f"{loc}.level", "levels must be ascending"))
        if prev is not None and prev.when == "breached" and lf.when == "at_risk":
            problems.append(ConfigProblem(str(path), f"{loc}.when", "at_risk levels go first"))
        if lf.when == "at_risk" and lf.late_by is not None:
            problems.append(ConfigProblem(str(path), f"{loc}.late_by", "only for 'breached'"))
        if "notify" in lf.actions and not lf.notify:
            problems.append(ConfigProblem(str(path), f"{loc}.notify", "say whom to notify"))
        late = lf.late_by or timedelta(0)
        if (
            prev is not None
            and prev.when == lf.when == "breached"
            and late <= (prev.late_by or timedelta(0))
        ):
            problems.append(ConfigProblem(str(path), f"{loc}.late_by", "must grow with the level"))
        levels.append(EscalationLevel(lf.level, lf.when, late, tuple(lf.actions), tuple(lf.notify)))
        prev = lf
    for i, plan in enumerate(spec.customer_requests.plans):
        if plans and plan not in plans:
            loc = f"customer_requests.plans[{i}]"
            problems.append(ConfigProblem(str(path), loc, f"unknown plan {plan!r}"))
    return EscalationPolicy(
        tuple(levels), tuple(spec.targets), frozenset(spec.customer_requests.plans)
    )


@dataclass(frozen=True)
class SlaResult:
    """The deadlines of one ticket at creation, or why no SLA applies."""

    plan: str
    policy_version: str
    applies: bool
    assumed: bool = False
    reason: str | None = None
    first_response_calendar: str | None = None
    resolution_calendar: str | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        if not self.applies:
            return {
                "plan": self.plan,
                "policy_version": self.policy_version,
                "applies": False,
                "reason": self.reason,
            }
        assert self.first_response_due is not None and self.resolution_due is not None
        return {
            "plan": self.plan,
            "policy_version": self.policy_version,
            "applies": True,
            "assumed": self.assumed,
            "calendars": {
                "first_response": self.first_response_calendar,
                "resolution": self.resolution_calendar,
            },
            "first_response_due": self.first_response_due.isoformat(),
            "resolution_due": self.resolution_due.isoformat(),
        }


def check_severity(severity: str) -> str:
    if severity not in SEVERITIES:
        raise SlaError(
            f"severity: unknown severity {severity!r}; use one of {', '.join(SEVERITIES)}"
        )
    return severity


def aware(instant: datetime, name: str) -> datetime:
    """``instant`` unchanged if it carries an offset; else ``SlaError`` naming ``name``."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise SlaError(f"{name}: {instant.isoformat()} has no UTC offset; give one (e.g. -06:00)")
    return instant


@dataclass(frozen=True)
class SlaPolicies:
    """All SLA data, validated, with its version. Build with ``SlaPolicies.load``."""

    directory: Path
    version: str
    at_risk_share: float
    plans: Mapping[str, PlanPolicy]
    calendars: Mapping[str, Calendar]
    escalation: EscalationPolicy

    @classmethod
    def load(cls, rules_dir: Path | None = None) -> SlaPolicies:
        """Load ``<rules_dir>/sla/*.yaml``; raise ``ConfigError`` listing every problem."""
        root = (rules_dir if rules_dir is not None else default_rules_dir()) / "sla"
        problems: list[ConfigProblem] = []
        cal_path, pol_path, esc_path = (root / name for name in SLA_FILES)
        cal_file = _read(cal_path, CalendarsFile, problems)
        pol_file = _read(pol_path, PoliciesFile, problems)
        esc_file = _read(esc_path, EscalationFile, problems)
        calendars = _build_calendars(cal_file, cal_path, problems) if cal_file else {}
        plans: dict[str, PlanPolicy] = {}
        if pol_file is not None and cal_file is not None:
            plans = _build_plans(pol_file, pol_path, calendars, problems)
        escalation = _build_escalation(esc_file, esc_path, plans, problems) if esc_file else None
        problems[:0] = verify_rules_dir(root.parent)  # the whole folder, as load_rules does
        if problems:
            raise ConfigError(problems)
        assert pol_file is not None and escalation is not None
        return cls(
            directory=root,
            version=files_version("sla", [cal_path, pol_path, esc_path], root),
            at_risk_share=pol_file.at_risk_share,
            plans=plans,
            calendars=calendars,
            escalation=escalation,
        )

    def policy(self, plan: str) -> PlanPolicy | None:
        return self.plans.get(plan)

    def no_sla_reason(self, plan: str) -> str:
        return f"no SLA policy for plan {plan!r}"

    def target(self, plan: str, severity: str, target: str) -> TargetSpec:
        """The spec of one target; ``SlaError`` for an unknown plan or severity."""
        policy = self.plans.get(plan)
        if policy is None:
            raise SlaError(f"plan: {self.no_sla_reason(plan)}")
        return policy.targets[check_severity(severity)][target]

    def deadlines(
        self,
        plan: str,
        severity: str,
        created_at: datetime,
        timezone: str,
        country: str | None = None,
    ) -> SlaResult:
        """First-response and resolution deadlines of a ticket created at ``created_at``.

        Deadlines are exact instants in the account's zone. A plan with no policy gives a result
        with ``applies=False`` and a reason; bad severity, zone, country or a naive datetime raise
        ``SlaError`` naming the field.
        """
        check_severity(severity)
        where = place(timezone, country)
        start = aware(created_at, "created_at").astimezone(UTC)
        policy = self.plans.get(plan)
        if policy is None:
            return SlaResult(plan, self.version, False, reason=self.no_sla_reason(plan))
        fr, res = policy.targets[severity]["first_response"], policy.targets[severity]["resolution"]
        return SlaResult(
            plan=plan,
            policy_version=self.version,
            applies=True,
            assumed=policy.assumed,
            first_response_calendar=fr.calendar.name,
            resolution_calendar=res.calendar.name,
            first_response_due=add_open_time_utc(fr.calendar, where, start, fr.duration).astimezone(
                where.zone
            ),
            resolution_due=add_open_time_utc(res.calendar, where, start, res.duration).astimezone(
                where.zone
            ),
        )
