"""The app factory: ``create_app()`` builds the FastAPI app around the triage core and SLA engine.

The triager (rules + model + SLA policies) is loaded by ``create_app`` itself, so ``sevtriage
serve`` refuses a broken rules file or model with a clean error before it takes the port; the
database is opened (and migrated) when the app starts (the lifespan). Every triager is warmed up
before it serves, and the heap is settled once the app has started (see ``service.startup``).
Tests inject a clock (``now``), a triager or settings; production reads ``Settings.from_env()``.
``POST /v1/tickets``, the busiest route, is answered ahead of FastAPI by ``service.fastpath``
(the app is a ``Service``); ``create_app(fast_path=False)`` leaves it to the FastAPI route.

Reloading: ``POST /v1/admin/reload`` or SIGHUP (when the server runs in the main thread, as
``sevtriage serve`` does) load the rules and model again from the same paths and swap them in;
a refused load keeps the last good ones (see ``context.Reloader``). With a ``channel`` (each
worker of ``serve --workers N``), a reload in one worker reaches the others (``service.workers``).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from anyio import CapacityLimiter
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from sevtriage.service.context import Reloader, ServiceContext
from sevtriage.service.errors import install_error_handlers
from sevtriage.service.fastpath import TicketIntake
from sevtriage.service.limits import BodySizeLimit
from sevtriage.service.metrics import Metrics, MetricsMiddleware
from sevtriage.service.routes_admin import router as admin_router
from sevtriage.service.routes_api import router as api_router
from sevtriage.service.routes_review import router as review_router
from sevtriage.service.settings import Settings
from sevtriage.service.sla_bridge import SlaBridge
from sevtriage.service.startup import recent_tickets, release_heap, settle_heap, warm_up
from sevtriage.store import Store
from sevtriage.triage import Triager, load_model

if TYPE_CHECKING:
    from sevtriage.service.workers import ReloadChannel


def utc_now() -> datetime:
    return datetime.now(UTC)


def triager_loader(
    settings: Settings, like: Triager | None = None, *, model: bool = True
) -> Callable[[], Triager]:
    """How the service builds (and rebuilds on reload) its triager.

    Without ``like``: the rules in ``settings.rules_dir`` (default ``$SEVTRIAGE_RULES_DIR`` or the
    bundled ``rules/``) and the model at ``settings.model_path`` (default ``$SEVTRIAGE_MODEL`` or
    ``models/default.joblib``), or no model with ``model=False`` (``serve --no-model`` stays
    rules-only across reloads). With ``like`` (an injected triager): its rules folder and limits,
    and the model at ``settings.model_path`` only if ``like`` has a model."""
    if like is None:
        if not model:
            return lambda: Triager(settings.rules_dir)
        return lambda: Triager(settings.rules_dir, model=load_model(settings.model_path))
    rules_dir, with_model = like.config.directory, like.model is not None
    max_body_chars, chunk_size, chunk_chars = like.max_body_chars, like.chunk_size, like.chunk_chars

    def rebuild() -> Triager:
        model = load_model(settings.model_path) if with_model else None
        return Triager(
            rules_dir,
            model,
            max_body_chars=max_body_chars,
            chunk_size=chunk_size,
            chunk_chars=chunk_chars,
        )

    return rebuild


def _on_sighup(reloader: Reloader) -> Callable[[], None] | None:
    """Reload on SIGHUP (in a worker thread: loading takes a while); returns how to stop, or None
    where signals cannot be caught (not the main thread, or no SIGHUP on this platform)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        return None
    loop = asyncio.get_running_loop()

    def handle() -> None:
        loop.run_in_executor(None, reloader.reload_logged, "SIGHUP")

    try:
        loop.add_signal_handler(signal.SIGHUP, handle)
    except (NotImplementedError, RuntimeError, ValueError):
        return None

    def stop() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return stop


class Service(FastAPI):
    """The FastAPI app, with ``POST /v1/tickets`` answered by ``fast_path`` (when set) before
    anything of FastAPI's or Starlette's runs (``service.fastpath``)."""

    fast_path: TicketIntake | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path is not None and self.fast_path.serves(scope):
            await self.fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    now: Callable[[], datetime] = utc_now,
    triager: Triager | None = None,
    loader: Callable[[], Triager] | None = None,
    channel: ReloadChannel | None = None,
    fast_path: bool = True,
) -> Service:
    """The service. ``triager`` defaults to ``loader()``; ``loader`` (what a reload calls) to
    ``triager_loader(settings, triager)``; ``settings`` to the environment; ``now`` to the system
    clock (UTC); ``channel``: the reload channel this worker shares with the others, if any
    (with a ``loader``, not a ``triager``: its generation is read before the first load);
    ``fast_path=False``: ``POST /v1/tickets`` through FastAPI too (tests compare the two). Raises
    ``ConfigError``/``ModelError`` when the rules or model are refused."""
    config = settings if settings is not None else Settings.from_env()
    build = loader if loader is not None else triager_loader(config, triager)
    # Read before the first load: a reload asked for meanwhile is then done once more, not missed.
    generation = channel.read().number if channel is not None else 0

    opened: list[Store] = []  # the store, while the app runs: a reload warms up with its tickets

    def load() -> Triager:
        recent = recent_tickets(opened[0], config.warm_up_tickets) if opened else []
        return warm_up(build(), now, recent)

    first = warm_up(triager, now) if triager is not None else load()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.open(config.database_url, background_checkpoints=True)
        stop_sighup: Callable[[], None] | None = None
        stop_following: Callable[[], None] | None = None
        try:
            store.warm_up()
            opened[:] = [store]
            if recent := recent_tickets(store, config.warm_up_tickets):
                warm_up(first, now, recent)
            ctx = ServiceContext(
                store=store,
                triager=first,
                sla=SlaBridge(first),
                metrics=metrics,
                settings=config,
                clock=now,
                intake_lane=CapacityLimiter(1) if store.serial_writes else None,
            )
            reloader.start(ctx)
            stop_sighup = _on_sighup(reloader)
            if channel is not None:
                stop_following = channel.follow(generation, reloader.catch_up)
            settle_heap()
            yield
        finally:
            opened.clear()
            release_heap()
            if stop_following is not None:
                stop_following()
            if stop_sighup is not None:
                stop_sighup()
            store.close()

    app = Service(
        title="sevtriage",
        summary="Support-ticket severity triage (P1-P4) with reasons, SLA deadlines and reviews.",
        version="1",
        lifespan=lifespan,
    )
    reloader = Reloader(app.state, load, channel, generation)
    app.state.settings = config
    app.state.metrics = metrics
    app.state.reloader = reloader
    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(admin_router)
    app.include_router(review_router)
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if fast_path:
        # Under ``serve --workers N`` the other workers write to the same database: no inline.
        app.fast_path = TicketIntake(
            app.state, metrics, config.max_body_bytes, inline=channel is None
        )
    return app
