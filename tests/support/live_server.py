"""The whole gateway served by uvicorn in the test's event loop, on a free loopback port, with the
settings of a production-shaped deployment (PostgreSQL, Redis, S3)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI

from meeting_launcher.gateway import create_gateway
from meeting_sfu.protocol import MAX_FRAME_BYTES
from meeting_shared.container import Container
from meeting_shared.settings import Settings
from tests.harness.ports import free_port
from tests.support.settings import deployment_settings
from tests.support.tasks import describe

if TYPE_CHECKING:
    from tests.harness.seaweedfs import S3Config
    from tests.support.ai_nodes import AiNodeProcess

# A live server that takes longer to stop is stuck: the test fails, naming what waits.
STOP_TIMEOUT_SECONDS = 60.0


def production_settings(
    *,
    postgres_url: str,
    redis_url: str,
    s3: S3Config,
    data_dir: Path,
    port: int,
    **overrides: Any,
) -> Settings:
    """Settings of a production-shaped deployment (PostgreSQL, Redis, S3) for tests."""
    backends = {
        "port": port,
        "database_url": postgres_url,
        "redis_url": redis_url,
        "s3_endpoint": s3.endpoint_url,
        "s3_bucket": s3.bucket,
        "s3_region": s3.region,
        "s3_access_key": s3.access_key,
        "s3_secret_key": s3.secret_key,
        "metrics_token": secrets.token_urlsafe(24),  # tests scrape /metrics with it
    }
    return deployment_settings(data_dir, backends, **overrides)


@dataclass
class LiveServer:
    url: str
    settings: Settings
    container: Container
    app: FastAPI

    @property
    def mail_file(self) -> Path:
        return self.settings.data_dir / "mail" / "outbox.jsonl"


async def start_live_server(settings: Settings) -> tuple[LiveServer, Callable[[], Awaitable[None]]]:
    """Serve the gateway with uvicorn in this event loop; returns the server and its stopper."""
    container = Container.build(settings)
    app = create_gateway(settings, container)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=settings.port,
            log_config=None,
            lifespan="on",
            ws_max_size=MAX_FRAME_BYTES,
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("the gateway did not start")

    async def stop() -> None:
        server.should_exit = True
        try:
            async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                await asyncio.shield(task)
        except TimeoutError:
            pending = sorted(describe(t) for t in asyncio.all_tasks() if not t.done())
            task.cancel()
            raise AssertionError(f"the gateway did not stop; waiting: {pending}") from None

    return LiveServer(
        url=f"http://127.0.0.1:{settings.port}", settings=settings, container=container, app=app
    ), stop


async def start_ai_gateway(
    ai_node: AiNodeProcess,
    *,
    database_url: str,
    redis_url: str,
    kafka_bootstrap: str,
    s3: S3Config,
    data_dir: Path,
    **overrides: Any,
) -> tuple[LiveServer, Callable[[], Awaitable[None]]]:
    """A gateway (and media node) wired to ``ai_node`` as production is: speech and captions
    through Kafka, model calls to the node's Triton. ``redis_url`` must be a database of its own
    (``separate_redis_db``) and ``database_url`` a private one (its relay publishes to Kafka)."""
    settings = production_settings(
        postgres_url=database_url,
        redis_url=redis_url,
        s3=s3,
        data_dir=data_dir,
        port=free_port(),
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=ai_node.topic_prefix,
        ai_node_urls=[ai_node.url],
        **overrides,
    )
    return await start_live_server(settings)
