"""SLA policies as data: loading and validation, the Business+ table, the 'no SLA' result."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sevtriage.errors import ConfigError, SlaError
from sevtriage.sla import SlaPolicies, default_rules_dir, parse_duration

RULES = Path(__file__).resolve().parents[1] / "rules"
MX = ("America/Mexico_City", "MX")


@pytest.fixture(scope="module")
def policies() -> SlaPolicies:
    return SlaPolicies.load(RULES)


def due(policies: SlaPolicies, plan: str, severity: str, created: str) -> tuple[str, str]:
    result = policies.deadlines(plan, severity, datetime.fromisoformat(created), *MX).as_dict()
    return result["first_response_due"], result["resolution_due"]


# Wednesday 2026-11-11 10:00 in Mexico City: no weekend or holiday within two business days.
@pytest.mark.parametrize(
    ("severity", "first_response", "resolution"),
    [
        ("P1", "2026-11-11T10:30:00-06:00", "2026-11-11T14:00:00-06:00"),
        ("P2", "2026-11-11T11:00:00-06:00", "2026-11-11T18:00:00-06:00"),
        ("P3", "2026-11-11T12:00:00-06:00", "2026-11-12T10:00:00-06:00"),
        ("P4", "2026-11-11T14:00:00-06:00", "2026-11-13T10:00:00-06:00"),
    ],
)
def test_every_business_plus_cell_matches_the_spec(
    policies: SlaPolicies, severity: str, first_response: str, resolution: str
) -> None:
    assert due(policies, "business_plus", severity, "2026-11-11T10:00:00-06:00") == (
        first_response,
        resolution,
    )


@pytest.mark.parametrize(
    ("severity", "created", "resolution"),
    [
        ("P3", "2026-11-13T15:00:00-06:00", "2026-11-17T15:00:00-06:00"),
        ("P4", "2026-11-13T15:00:00-06:00", "2026-11-18T15:00:00-06:00"),
        ("P3", "2026-11-21T10:00:00-06:00", "2026-11-24T00:00:00-06:00"),
    ],
)
def test_business_day_resolutions_skip_the_mexican_revolution_day_and_weekends(
    policies: SlaPolicies, severity: str, created: str, resolution: str
) -> None:
    assert due(policies, "business_plus", severity, created)[1] == resolution


def test_business_plus_p1_on_saturday_runs_24x7_with_the_full_result(
    policies: SlaPolicies,
) -> None:
    created = datetime.fromisoformat("2026-11-21T10:00:00-06:00")
    result = policies.deadlines("business_plus", "P1", created, *MX).as_dict()
    assert result == {
        "plan": "business_plus",
        "policy_version": policies.version,
        "applies": True,
        "assumed": False,
        "calendars": {"first_response": "24x7", "resolution": "24x7"},
        "first_response_due": "2026-11-21T10:30:00-06:00",
        "resolution_due": "2026-11-21T14:00:00-06:00",
    }


def test_deadlines_are_printed_in_the_account_zone_whatever_the_input_offset(
    policies: SlaPolicies,
) -> None:
    created = datetime.fromisoformat("2026-11-21T16:00:00+00:00")
    result = policies.deadlines("business_plus", "P1", created, *MX)
    assert result.as_dict()["first_response_due"] == "2026-11-21T10:30:00-06:00"


def test_pro_is_longer_and_marked_assumed(policies: SlaPolicies) -> None:
    created = datetime.fromisoformat("2026-11-11T10:00:00-06:00")
    for severity in ("P1", "P2", "P3", "P4"):
        pro = policies.deadlines("pro", severity, created, *MX)
        business = policies.deadlines("business_plus", severity, created, *MX)
        assert pro.assumed and not business.assumed
        assert pro.first_response_due and business.first_response_due
        assert pro.resolution_due and business.resolution_due
        assert pro.first_response_due > business.first_response_due
        assert pro.resolution_due > business.resolution_due


def test_plan_without_policy_gets_a_clear_no_sla_result(policies: SlaPolicies) -> None:
    created = datetime.fromisoformat("2026-11-11T10:00:00-06:00")
    assert policies.deadlines("free", "P1", created, *MX).as_dict() == {
        "plan": "free",
        "policy_version": policies.version,
        "applies": False,
        "reason": "no SLA policy for plan 'free'",
    }


@pytest.mark.parametrize(
    ("severity", "created", "zone", "country", "field"),
    [
        ("P9", "2026-11-11T10:00:00-06:00", "America/Mexico_City", "MX", "severity"),
        ("P1", "2026-11-11T10:00:00", "America/Mexico_City", "MX", "created_at"),
        ("P1", "2026-11-11T10:00:00-06:00", "Mexico/Nowhere", "MX", "timezone"),
        ("P1", "2026-11-11T10:00:00-06:00", "America/Mexico_City", "ZZ", "country"),
    ],
)
def test_bad_inputs_raise_sla_error_naming_the_field(
    policies: SlaPolicies, severity: str, created: str, zone: str, country: str, field: str
) -> None:
    with pytest.raises(SlaError, match=rf"^{field}: "):
        policies.deadlines(
            "business_plus", severity, datetime.fromisoformat(created), zone, country
        )


def test_business_day_target_without_country_is_an_error_not_a_guess(
    policies: SlaPolicies,
) -> None:
    created = datetime.fromisoformat("2026-11-11T10:00:00-06:00")
    with pytest.raises(SlaError, match=r"^country: "):
        policies.deadlines("business_plus", "P3", created, "America/Mexico_City", None)
    # 24x7 targets need no country.
    assert policies.deadlines("business_plus", "P1", created, "America/Mexico_City", None).applies


def test_version_changes_exactly_when_an_sla_file_changes(
    policies: SlaPolicies, tmp_path: Path
) -> None:
    import re
    import shutil

    assert re.fullmatch(r"sla-[0-9a-f]{12}", policies.version)
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    (copy / "MANIFEST.sha256").unlink()  # edited below without re-locking
    assert SlaPolicies.load(copy).version == policies.version
    for name in ("calendars.yaml", "escalation.yaml", "policies.yaml"):
        path = copy / "sla" / name
        original = path.read_text()
        path.write_text(original + "\n# edited\n")
        assert SlaPolicies.load(copy).version != policies.version, name
        path.write_text(original)


def test_at_risk_share_defaults_to_three_quarters(policies: SlaPolicies) -> None:
    assert policies.at_risk_share == 0.75


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
    ],
)
def test_duration_text_parses(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize("text", ["", "0h", "4 hours", "-1h", "1.5h"])
def test_bad_duration_text_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def broken_copy(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """A copy of the SLA files with each (old, new) text replaced (keys: 'file' or 'file#n')."""
    root = tmp_path / "rules"
    shutil.copytree(RULES / "sla", root / "sla")
    for key, (old, new) in edits.items():
        name = key.split("#")[0]
        path = root / "sla" / name
        text = path.read_text(encoding="utf-8")
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return root


def test_every_problem_in_every_sla_file_is_reported_at_once(tmp_path: Path) -> None:
    root = broken_copy(
        tmp_path,
        {
            "policies.yaml": ("resolution: {duration: 4h, calendar: 24x7}", "resolution: {duration: 4 hours, calendar: 24x7}"),
            "calendars.yaml": ('mon: ["09:00-18:00"]', 'mon: ["18:00-09:00"]'),
            "calendars.yaml#2": ('    description: "Monday to Friday 09', '    colour: blue\n    description: "Monday to Friday 09'),
            "escalation.yaml": ("  - level: 3", "  - level: 2"),
        },
    )  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        SlaPolicies.load(root)
    where = {(Path(p.file).name, p.location) for p in caught.value.problems}
    assert ("policies.yaml", "plans.business_plus.targets.P1.resolution.duration") in where
    assert ("calendars.yaml", "calendars.business_hours.colour") in where
    assert ("calendars.yaml", "calendars.business_hours.open.mon.0") in where
    assert ("escalation.yaml", "levels[2].level") in where


def test_unknown_calendar_and_missing_severity_are_reported_with_their_key(
    tmp_path: Path,
) -> None:
    root = broken_copy(
        tmp_path,
        {
            "policies.yaml": ("{duration: 8h, calendar: 24x7}", "{duration: 8h, calendar: 24x5}"),
        },
    )
    text = (root / "sla" / "policies.yaml").read_text(encoding="utf-8")
    cut = text.index("      P4:", text.index("  pro:"))
    (root / "sla" / "policies.yaml").write_text(text[:cut], encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        SlaPolicies.load(root)
    messages = [str(p) for p in caught.value.problems]
    assert any("P2.resolution.calendar" in m and "'24x5'" in m for m in messages)
    assert any("plans.pro.targets" in m and "P4" in m for m in messages)


def test_missing_sla_file_is_a_config_error(tmp_path: Path) -> None:
    root = broken_copy(tmp_path, {})
    (root / "sla" / "escalation.yaml").unlink()
    with pytest.raises(ConfigError, match=r"escalation\.yaml: required file is missing"):
        SlaPolicies.load(root)


def test_customer_request_plans_must_exist(tmp_path: Path) -> None:
    root = broken_copy(tmp_path, {"escalation.yaml": ("plans: [business_plus]", "plans: [gold]")})
    with pytest.raises(ConfigError, match="unknown plan 'gold'"):
        SlaPolicies.load(root)


def test_default_rules_dir_follows_env_var_and_fails_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEVTRIAGE_RULES_DIR", raising=False)
    assert default_rules_dir() == RULES
    monkeypatch.setenv("SEVTRIAGE_RULES_DIR", str(tmp_path))
    assert default_rules_dir() == tmp_path
    monkeypatch.setenv("SEVTRIAGE_RULES_DIR", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="rules directory not found"):
        default_rules_dir()
