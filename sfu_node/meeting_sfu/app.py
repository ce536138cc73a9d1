"""A standalone media node (``meeting sfu``): signaling and forwarding, no HTTP API.

It shares the database, the state store and the secrets with the gateway and the functions. It
never relays the outbox (the gateway or ``meeting relay`` does): it consumes events from Kafka
with a consumer group of its own, or without Kafka follows the outbox table, so that a removal,
a ban or the end of a meeting made through the API reaches its live rooms at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from meeting_sfu.signaling.node import SignalingNode
from meeting_sfu.signaling.node import router as signaling_router
from meeting_shared.background import running
from meeting_shared.bus.outbox import OutboxFeed
from meeting_shared.container import Container
from meeting_shared.metrics import install_metrics
from meeting_shared.settings import Settings, get_settings
from meeting_shared.telemetry import instrument_app

HEALTH_TIMEOUT_SECONDS = 3.0


def create_sfu_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    settings = settings or get_settings()
    container = container or Container.build(settings, source="sfu")
    node = SignalingNode(container, settings.node_id)
    feed = OutboxFeed(container.db, container.bus)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Events from the API reach the node through Kafka, or without Kafka by following the
        # outbox table.
        if settings.uses_kafka:
            events = container.bus.run()
        else:
            await feed.poll()  # take the outbox's current end before accepting anyone
            events = feed.run()
        try:
            async with running(node.heartbeat(), events):
                yield
        finally:
            await container.aclose()

    app = FastAPI(title="meeting-system media node", lifespan=lifespan, openapi_url=None)
    app.state.container = container
    instrument_app(app)
    app.state.signaling = node
    app.include_router(signaling_router)

    @app.get("/health")
    async def health() -> JSONResponse:
        checks: dict[str, dict[str, object]] = {}
        for name, probe in (("database", container.db.ping), ("state", container.state.ping)):
            try:
                await asyncio.wait_for(probe(), HEALTH_TIMEOUT_SECONDS)
                checks[name] = {"ok": True}
            except Exception as exc:
                checks[name] = {"ok": False, "detail": type(exc).__name__}
        healthy = all(check["ok"] for check in checks.values())
        body = {"status": "ok" if healthy else "unavailable", "node": node.node_id, **checks}
        return JSONResponse(body, status_code=200 if healthy else 503)

    install_metrics(app, settings.metrics_token)

    return app
