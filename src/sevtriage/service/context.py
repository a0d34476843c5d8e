"""What every request handler needs, built once per app: store, triager, SLA, metrics, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sevtriage.service.metrics import Metrics
from sevtriage.service.settings import Settings
from sevtriage.service.sla_bridge import SlaBridge
from sevtriage.store import Store
from sevtriage.triage import Triager


@dataclass(frozen=True)
class ServiceContext:
    store: Store
    triager: Triager
    sla: SlaBridge
    metrics: Metrics
    settings: Settings
    clock: Callable[[], datetime]

    def now(self) -> datetime:
        """The injected clock's time; refused if naive (every stored time is aware)."""
        value = self.clock()
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the service clock returned a naive datetime")
        return value
