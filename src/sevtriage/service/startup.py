"""What the service does once, before it answers, so that neither the first requests nor the long
run pay for it: a warm-up triage of every triager put in service, and a settled heap.

Warm-up: the first triage pays for lazy first uses in the triage core (the holiday library's
country list, the model's first call): the first ``POST /v1/tickets`` took 70-100 ms, the next
ones 3 ms. Two representative tickets (Spanish and English, with a plan, zone and country) are
triaged and the results dropped; the store compiles its intake inserts (``Store.warm_up``).

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
from collections.abc import Callable
from datetime import datetime

from sevtriage.service.schemas import TICKET_EXAMPLE
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


def warm_up(triager: Triager, now: Callable[[], datetime]) -> Triager:
    """Triage ``WARM_UP_TICKETS`` with ``triager`` at ``now()``, dropping the results; returns
    ``triager``. A failure is logged, never raised: warming up only moves work earlier, so it
    must not refuse a start or a reload that would otherwise succeed."""
    try:
        list(triager.triage_records(enumerate(WARM_UP_TICKETS), now()))
    except Exception:
        log.warning("sevtriage: the warm-up triage failed (serving anyway)", exc_info=True)
    return triager


def settle_heap() -> None:
    """Collect the garbage of start-up (or of a replaced triager), then freeze what survives."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def release_heap() -> None:
    """Give the frozen objects back to the collector (at shutdown)."""
    gc.unfreeze()
