"""The app factory: ``create_app()`` builds the FastAPI app around the triage core and SLA engine.

Everything heavy is loaded once per process when the app starts (the lifespan): the database
(migrated to the latest schema), the triager (rules + model) and the SLA policies. Tests inject
a clock (``now``), a triager or settings; production reads ``Settings.from_env()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from sevtriage.service.context import ServiceContext
from sevtriage.service.errors import install_error_handlers
from sevtriage.service.limits import BodySizeLimit
from sevtriage.service.metrics import Metrics, MetricsMiddleware
from sevtriage.service.routes_api import router as api_router
from sevtriage.service.routes_review import router as review_router
from sevtriage.service.settings import Settings
from sevtriage.service.sla_bridge import SlaBridge
from sevtriage.store import Store
from sevtriage.triage import Triager, default_triager


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None,
    *,
    now: Callable[[], datetime] = utc_now,
    triager: Triager | None = None,
) -> FastAPI:
    """The service. ``triager`` defaults to ``default_triager()`` (rules, the default model and
    the SLA policies), ``settings`` to the environment, ``now`` to the system clock (UTC)."""
    config = settings if settings is not None else Settings.from_env()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = triager if triager is not None else default_triager()
        store = Store.open(config.database_url)
        try:
            app.state.ctx = ServiceContext(
                store=store,
                triager=loaded,
                sla=SlaBridge(loaded),
                metrics=metrics,
                settings=config,
                clock=now,
            )
            yield
        finally:
            store.close()

    app = FastAPI(
        title="sevtriage",
        summary="Support-ticket severity triage (P1-P4) with reasons, SLA deadlines and reviews.",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = config
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(review_router)
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
