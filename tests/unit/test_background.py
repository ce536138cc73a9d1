"""Background loops stop when cancelled, even when they are woken in the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meeting_shared import background
from meeting_shared.background import running
from meeting_shared.bus.local import local_bus
from meeting_shared.bus.outbox import OutboxRelay
from meeting_shared.db.engine import Database
from meeting_shared.db.migrate import upgrade_async

pytestmark = pytest.mark.unit


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    await upgrade_async(url)
    db = Database(url)
    yield db
    await db.aclose()


async def test_a_relay_cancelled_as_a_commit_wakes_it_stops(database: Database) -> None:
    # A server stopping cancels its relay; participants leaving at that moment commit events
    # that wake it. On Python 3.11 asyncio.wait_for returned normally when cancelled just as
    # its event was set, so the relay ran on and the server's stop waited for it forever.
    relay = OutboxRelay(database, local_bus())
    task = asyncio.create_task(relay.run(poll_interval=60))
    await asyncio.sleep(0.1)  # waiting to be woken
    relay.notify()
    task.cancel()
    try:
        with pytest.raises(asyncio.CancelledError):
            async with asyncio.timeout(5):
                await task
    finally:
        task.cancel()


async def test_a_job_that_loses_its_cancellation_is_stopped_all_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # redis-py waits for every command with asyncio.wait_for: a job cancelled as a command
    # completes runs on, and a stopping server's lifespan waited for it forever.
    monkeypatch.setattr(background, "STOP_WAIT_SECONDS", 0.1)
    done = asyncio.Event()
    rounds = 0
    stopped = asyncio.Event()

    async def job() -> None:
        nonlocal rounds
        try:
            while True:
                await asyncio.wait_for(done.wait(), 60)  # as the library does
                done.clear()
                rounds += 1
        finally:
            stopped.set()

    async def serve() -> None:
        async with running(job()):
            done.set()
            await asyncio.sleep(0)  # the wait completes; the cancellation comes at that moment

    server = asyncio.create_task(serve())
    try:
        await asyncio.wait([server], timeout=5)  # a wait that cancels nothing
        assert server.done() and stopped.is_set()
        assert rounds == 1  # it lost the first cancellation, and ran a round more
    finally:
        server.cancel()
