"""Waiting for what has no event to wait on: bounded polling."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], seconds: float, every: float = 0.05
) -> None:
    """Wait until ``check`` holds (polling: what it watches has no event to wait on)."""
    async with asyncio.timeout(seconds):
        while True:
            result = check()
            if result if isinstance(result, bool) else await result:
                return
            await asyncio.sleep(every)
