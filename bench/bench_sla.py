"""Deadlines per second. Prints its figures; asserts nothing (machines are noisy).

    .venv/bin/python bench/bench_sla.py [--n 100000] [--seed 7]

Generates N tickets (mixed plans, severities, zones and countries, created at random instants over
2026) and times ``SlaPolicies.deadlines`` on all of them: once cold (empty holiday and per-day
caches) and once warm. Also times the ticket clock (``sla_state``) on a paused, re-prioritised
history, the typical sweep input.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sevtriage.calendars import holiday_dates, open_intervals
from sevtriage.clock import TicketEvent, sla_state
from sevtriage.sla import SlaPolicies

REPO = Path(__file__).resolve().parents[1]
PLACES = [
    ("America/Mexico_City", "MX"),
    ("America/Santiago", "CL"),
    ("Europe/Madrid", "ES"),
    ("America/New_York", "US"),
    ("America/Sao_Paulo", "BR"),
    ("Asia/Kolkata", "IN"),
    ("Australia/Sydney", "AU"),
    ("Europe/London", "GB"),
]
PLANS = ["business_plus", "business_plus", "pro"]
SEVERITIES = ["P1", "P2", "P3", "P4"]
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)


def tickets(n: int, seed: int) -> list[tuple[str, str, datetime, str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        zone, country = rng.choice(PLACES)
        created = YEAR_START + timedelta(seconds=rng.randrange(365 * 24 * 3600))
        out.append((rng.choice(PLANS), rng.choice(SEVERITIES), created, zone, country))
    return out


def time_deadlines(
    policies: SlaPolicies, batch: list[tuple[str, str, datetime, str, str]]
) -> float:
    started = time.perf_counter()
    for plan, severity, created, zone, country in batch:
        policies.deadlines(plan, severity, created, zone, country)
    return time.perf_counter() - started


def time_clock(policies: SlaPolicies, n: int) -> float:
    at = datetime(2026, 11, 13, 15, tzinfo=UTC)
    events = [
        TicketEvent("T", "created", at, plan="business_plus", severity="P4",
                    timezone="America/Mexico_City", country="MX"),
        TicketEvent("T", "first_response_sent", at + timedelta(hours=1)),
        TicketEvent("T", "waiting_on_customer", at + timedelta(hours=2)),
        TicketEvent("T", "customer_replied", at + timedelta(hours=30)),
        TicketEvent("T", "severity_changed", at + timedelta(hours=31), severity="P3", by="agent"),
    ]  # fmt: skip
    now = at + timedelta(days=3)
    started = time.perf_counter()
    for _ in range(n):
        sla_state(events, policies, now)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    policies = SlaPolicies.load(REPO / "rules")
    batch = tickets(args.n, args.seed)
    holiday_dates.cache_clear()
    open_intervals.cache_clear()
    cold = time_deadlines(policies, batch)
    warm = time_deadlines(policies, batch)
    clock_n = max(args.n // 10, 1)
    clock = time_clock(policies, clock_n)
    print(f"sla deadlines: {args.n:,} tickets, {len(PLACES)} zones/countries, plans {set(PLANS)}")
    print(f"  cold caches : {cold:6.2f} s  {args.n / cold:10,.0f} deadlines/s")
    print(f"  warm caches : {warm:6.2f} s  {args.n / warm:10,.0f} deadlines/s")
    print(f"  ticket clock: {clock:6.2f} s  {clock_n / clock:10,.0f} states/s (5-event history)")
    print(f"  cache: {open_intervals.cache_info()}")


if __name__ == "__main__":
    main()
