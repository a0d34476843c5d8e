"""What the service does once, before it answers, so that neither the first requests nor the long
run pay for it: a warm-up triage of every triager put in service, and a settled heap.

Warm-up: the first triage pays for lazy first uses in the triage core (the holiday library's
country list, the model's first call): the first ``POST /v1/tickets`` took 70-100 ms, the next
ones 3 ms. Two representative tickets (Spanish and English, with a plan, zone and country) are
triaged and the results dropped; the store compiles its intake inserts (``Store.warm_up``).
Then, once the store is open, the triager in service (and each one a reload builds) triages the
store's latest tickets (``Settings.warm_up_tickets``, 1,000 by default, bodies cut at 5,000
characters): RE2 builds its automata's states as texts first need them, and a fresh triager's
first thousands of tickets pay for that (``Triager.warm_up``). On an empty store, nothing more.

Settled heap: after start-up, ``gc.freeze()`` moves every object alive (rules, model, modules:
130,000-230,000 tracked objects) out of the cyclic collector's sight. A full collection otherwise
walks them all, 50-110 ms with every thread stopped (one in a 60 s run at 300 requests/s), and
at 75 % load the backlog of such a pause takes four times as long to drain. Requests leave almost
nothing behind, so later collections only look at young objects. A reload settles again: the
replaced triager's objects are unfrozen and collected (one such pause per reload, a rare
administrative act), and the app's shutdown unfreezes the heap, so that a process that starts
many apps (the tests) does not keep their garbage forever.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sevtriage.service.schemas import TICKET_EXAMPLE
from sevtriage.store import Store
from sevtriage.triage import Triager

log = logging.getLogger("uvicorn.error")

WARM_UP_TICKETS: tuple[dict[str, str], ...] = (
    {**TICKET_EXAMPLE, "id": "warm-up-es"},
    {
        "id": "warm-up-en",
        "subject": "Checkout page returns an error",
        "body": "Since this morning some customers cannot pay; retrying sometimes works.",
        "plan": "pro",
        "timezone": "America/New_York",
        "country": "US",
    },
)


def warm_up(
    triager: Triager, now: Callable[[], datetime], recent: Sequence[Mapping[str, Any]] = ()
) -> Triager:
    """Triage ``WARM_UP_TICKETS`` and then ``recent`` (``recent_tickets``) with ``triager`` at
    ``now()``, dropping the results; returns ``triager``. A failure is logged, never raised:
    warming up only moves work earlier, so it must not refuse a start or a reload that would
    otherwise succeed."""
    try:
        triager.warm_up([*WARM_UP_TICKETS, *recent], now())
    except Exception:
        log.warning("sevtriage: the warm-up triage failed (serving anyway)", exc_info=True)
    return triager


WARM_UP_FIELDS = ("id", "subject", "body", "plan", "timezone", "country", "language")
WARM_UP_BODY_CHARS = 5000


def recent_tickets(store: Store, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` stored tickets, as records to warm a triager with: their text,
    plan and place, without the severity a caller may have given (which skips classifying)
    and with bodies cut at ``WARM_UP_BODY_CHARS``. Empty (and logged) if reading fails."""
    try:
        contents = store.recent_contents(limit, WARM_UP_BODY_CHARS)
    except Exception:
        log.warning("sevtriage: could not read recent tickets to warm up", exc_info=True)
        return []
    return [{name: content.get(name) for name in WARM_UP_FIELDS} for content in contents]


def settle_heap() -> None:
    """Collect the garbage of start-up (or of a replaced triager), then freeze what survives."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def release_heap() -> None:
    """Give the frozen objects back to the collector (at shutdown)."""
    gc.unfreeze()
