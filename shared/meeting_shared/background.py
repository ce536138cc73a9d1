"""Coroutines that run beside a long-lived process (relay, consumers, heartbeats).

On Python 3.11 a cancellation can be lost: ``asyncio.wait_for`` returns normally when it is
cancelled just as what it waits for completes, and redis-py wraps every command in it. A loop
that lost its cancellation runs on, and a server stopping waited for it forever; so jobs are
cancelled until they end, and our own waits use ``asyncio.timeout``, which loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

logger = logging.getLogger(__name__)

STOP_ATTEMPTS = 6  # cancellations sent to a job before giving up on it
STOP_WAIT_SECONDS = 5.0  # how long a job has to end (and clean up) after each


@contextlib.asynccontextmanager
async def running(*jobs: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``jobs`` as tasks while the block runs; stop them and wait for them at its end."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        yield
    finally:
        await asyncio.gather(*(stop(task) for task in tasks))


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it ends, cancelling again while it runs on (a lost
    cancellation); after ``STOP_ATTEMPTS`` it is left running, with an error in the log."""
    for _ in range(STOP_ATTEMPTS):
        task.cancel()
        await asyncio.wait([task], timeout=STOP_WAIT_SECONDS)
        if task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return
        logger.warning("a background job lost its cancellation", extra={"task": task.get_name()})
    logger.error("a background job does not stop", extra={"task": task.get_name()})


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set, at most ``seconds``; True if it was (without
    ``asyncio.wait_for``, which loses a cancellation that comes as the event is set)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            return await event.wait()
    return False
