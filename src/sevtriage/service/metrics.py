"""Prometheus metrics, one registry per app (so two apps in one process never collide).

requests and latency per route template (not per path: ticket ids would explode the series),
decisions per severity, source and kind, review outcomes, SLA breaches and escalations.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sevtriage_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sevtriage_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.decisions = Counter(
            "sevtriage_decisions",
            "Severity decisions recorded, by severity, source and kind.",
            ["severity", "source", "kind"],
            registry=self.registry,
        )
        self.reviews = Counter(
            "sevtriage_reviews",
            "Agent reviews by action (accepted or overridden).",
            ["action"],
            registry=self.registry,
        )
        self.breaches = Counter(
            "sevtriage_sla_breaches",
            "SLA targets found breached by the sweep (each recorded once), by target.",
            ["target"],
            registry=self.registry,
        )
        self.escalations = Counter(
            "sevtriage_escalations",
            "Escalations recorded, by kind (automatic, requested) and outcome.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        # Concurrent first uses of a key may both call labels(): it returns the same series.
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._decision_series: dict[tuple[str, str, str], Any] = {}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency. The labelled series are kept per label
        values: ``labels()`` takes a lock and builds its key on every call (~14 of 16 us)."""
        key = (method, route, status)
        series = self._request_series.get(key)
        if series is None:
            series = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._request_series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    def decision(self, severity: str, source: str, kind: str) -> None:
        """Count one recorded decision (see ``request`` for why the series are kept)."""
        key = (severity, source, kind)
        series = self._decision_series.get(key)
        if series is None:
            series = self._decision_series[key] = self.decisions.labels(severity, source, kind)
        series.inc()


class MetricsMiddleware:
    """Counts every HTTP request and its latency under the matched route's template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.request(method, template, status, time.perf_counter() - started)
