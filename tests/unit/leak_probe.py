"""Tests for tests/unit/test_task_leaks.py to run in a pytest of its own (the file name keeps
them out of the suite): one leaks a task, the others do not and must pass."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.unit


async def test_leaks_a_sleeper() -> None:
    asyncio.create_task(asyncio.sleep(3600), name="leaked-sleeper")  # noqa: RUF006


async def test_awaits_what_it_starts() -> None:
    await asyncio.create_task(asyncio.sleep(0))


async def test_cancels_what_it_starts() -> None:
    asyncio.create_task(asyncio.sleep(3600), name="cancelled-sleeper").cancel()


async def test_starts_a_task_that_ends_soon_after() -> None:
    asyncio.get_running_loop().call_later(0.2, lambda: None)
    asyncio.create_task(asyncio.sleep(0.2), name="short-sleeper")  # noqa: RUF006
