"""The FastAPI application: opens the store once, migrates it, mounts every router.

Example::

    import uvicorn
    from llmtrace_server.app import create_app
    from llmtrace_server.settings import Settings
from llmtrace_server.ui import mount_ui

    uvicorn.run(create_app(Settings(store="chdb:///tmp/llmtrace")), port=7878, workers=1)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from llmtrace.store import Store, open_store
from llmtrace_server import __version__
from llmtrace_server.alerts.delivery import WebhookDispatcher
from llmtrace_server.alerts.webhook_policy import WebhookPolicy
from llmtrace_server.arrow_pool import use_system_pool
from llmtrace_server.decode_pool import decode_pool
from llmtrace_server.gc_tuning import tune_gc
from llmtrace_server.ingest import SpanLimits
from llmtrace_server.ingest_gate import IngestGate
from llmtrace_server.read_turns import ReadTurns
from llmtrace_server.request_body import RequestBodyLimits
from llmtrace_server.routes import ROUTERS
from llmtrace_server.routes._otlp_http import OTLP_PATHS
from llmtrace_server.settings import Settings
from llmtrace_server.spool import ingest_spool
from llmtrace_server.ui import mount_ui
from llmtrace_server.writer import SpanWriter

WEBHOOK_DRAIN_S = 10.0  # at shutdown, how long queued alert notifications may still take


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the app. The store is opened and migrated when the app starts and closed when it stops.

    ``store`` hands over one that is already open (``llmtrace serve`` opens it first so that a
    store held by another process is a one-line error, not a start-up traceback).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        use_system_pool()
        # Synchronous on purpose: nothing may be served before migrations have run.
        opened = store or open_store(settings.store, settings.database)
        try:
            opened.migrate(span_ttl_days=settings.span_ttl_days, rollup_ttl_days=settings.rollup_ttl_days)
            app.state.store = opened
            app.state.span_limits = SpanLimits(
                max_age_days=opened.span_retention_days()
                if settings.max_span_age_days is None
                else settings.max_span_age_days,
                max_future_skew_s=settings.max_future_skew_seconds,
            )
            app.state.ingest_gate = IngestGate(
                settings.ingest_concurrency, settings.ingest_queue, settings.ingest_per_project
            )
            app.state.span_writer = writer = SpanWriter(
                opened,
                max_rows=settings.insert_max_rows,
                window_s=settings.dedup_window_s,
                spool=ingest_spool(settings, opened),
                spool_delay_s=settings.ingest_spool_delay_seconds,
            )
            app.state.decode_pool = decode_pool(settings.decode_workers)
            app.state.webhooks = webhooks = WebhookDispatcher(opened, app.state.webhook_policy)
            await writer.start()
            tune_gc()
            try:
                yield
            finally:
                await writer.close()
                await run_in_threadpool(webhooks.wait_idle, WEBHOOK_DRAIN_S)  # send what is queued
                webhooks.close()
                if app.state.decode_pool is not None:
                    app.state.decode_pool.shutdown()
        finally:
            opened.close()

    app = FastAPI(
        title="llmtrace",
        version=__version__,
        summary="Traces, metrics and scores of LLM calls; OTLP/HTTP ingest at /v1/traces.",
        lifespan=lifespan,
        # /docs is served by the UI from vendored Swagger UI files (no CDN); ReDoc would need one.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.webhook_policy = WebhookPolicy.allowing(settings.allow_webhook_hosts)
    app.add_middleware(ReadTurns, slots=settings.read_concurrency)
    app.add_middleware(
        RequestBodyLimits,
        timeout_s=settings.body_read_timeout_seconds,
        max_bytes=settings.max_body_bytes,
        exempt=OTLP_PATHS,  # they answer a body over the limit in OTLP's own shape
    )
    for router in ROUTERS:
        app.include_router(router)
    mount_ui(app)
    return app
