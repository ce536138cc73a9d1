"""Running an AI node: ``meeting gpu-node`` on its own, or beside the gateway when embedded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from meeting_gpu.captions import CaptionWorker
from meeting_gpu.server import AiNode
from meeting_shared.background import running
from meeting_shared.container import Container
from meeting_shared.settings import Settings

logger = logging.getLogger(__name__)


async def serve_ai_node(container: Container, *, models: list[str] | None = None) -> None:
    """Serve the models and beat until cancelled; Triton is stopped on the way out."""
    settings = container.settings
    node = AiNode(settings, models=models)
    starting = asyncio.create_task(asyncio.to_thread(node.start))
    try:
        # Not cancelled halfway: a Triton server started in the thread must be stopped below.
        await asyncio.shield(starting)
        while True:
            try:
                await container.ai_nodes.heartbeat(node.status())
            except Exception:
                logger.warning("AI node heartbeat failed", exc_info=True)
            await asyncio.sleep(settings.ai_node_heartbeat_seconds)
    finally:
        with contextlib.suppress(Exception):
            await starting
        with contextlib.suppress(Exception):
            await container.ai_nodes.forget(node.status().id)
        await asyncio.to_thread(node.stop)


def embedded_ai_node(container: Container) -> None:
    """Make the gateway's process an AI node too (its bus carries the caption requests)."""
    CaptionWorker(container.ai, container.bus).subscribe()


async def serve_embedded(container: Container) -> None:
    """``serve_ai_node`` beside the gateway: if it cannot start (a busy port, a broken model
    file) the gateway goes on without it, and AI calls answer 503."""
    try:
        await serve_ai_node(container)
    except Exception:
        logger.exception("the embedded AI node could not start")


async def run_gpu_node(settings: Settings, models: list[str] | None) -> None:
    container = Container.build(settings, source="ai")
    CaptionWorker(container.ai, container.bus).subscribe()
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, main.cancel)
    try:
        async with running(container.bus.run()):
            await serve_ai_node(container, models=models)
    except asyncio.CancelledError:
        logger.info("AI node stopped")
    finally:
        await container.aclose()
