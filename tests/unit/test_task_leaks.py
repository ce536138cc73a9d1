"""The leak check fails a test that leaves a task running, and only such a test."""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.tasks import cancel_all, describe, leaked_tasks, owned_by

pytestmark = pytest.mark.unit

PROBE = Path(__file__).with_name("leak_probe.py")


async def test_a_task_left_pending_is_a_leak() -> None:
    with owned_by("probe"):
        task = asyncio.create_task(asyncio.sleep(3600), name="left-behind")
    try:
        leaked = await leaked_tasks("probe", grace=0.05)
        assert leaked == [task]
        assert describe(task).startswith("left-behind (sleep) at ")
    finally:
        await cancel_all([task])
    assert task.cancelled()


async def test_a_task_started_by_an_owned_task_is_owned_too() -> None:
    children: list[asyncio.Task[None]] = []

    async def spawn() -> None:
        children.append(asyncio.create_task(asyncio.sleep(3600), name="grandchild"))

    with owned_by("probe-parent"):
        await asyncio.create_task(spawn())
    try:
        assert await leaked_tasks("probe-parent", grace=0.05) == children
    finally:
        await cancel_all(children)


async def test_finished_cancelled_and_others_tasks_are_not_leaks() -> None:
    # A long-lived client a wider fixture started (its own context) may start tasks at any time.
    background: list[asyncio.Task[None]] = []

    async def long_lived_client() -> None:
        await asyncio.sleep(0.01)
        background.append(asyncio.create_task(asyncio.sleep(3600), name="reconnect"))

    with owned_by("probe-innocent"):
        client = asyncio.create_task(long_lived_client(), context=contextvars.Context())
        await asyncio.create_task(asyncio.sleep(0))
        asyncio.create_task(asyncio.sleep(3600)).cancel()
        soon = asyncio.create_task(asyncio.sleep(0.05))
    try:
        assert await leaked_tasks("probe-innocent", grace=5) == []
        assert soon.done()
        assert client.done()
        assert len(background) == 1
        assert not background[0].done()
    finally:
        await cancel_all(background)


def test_the_suite_fails_the_test_that_leaks_and_only_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o",
         f"python_files={PROBE.name}", str(PROBE)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "4 passed, 1 error" in out, out  # the leak fails the teardown of a passed test
    assert "test_leaks_a_sleeper left tasks running" in out, out
    assert "leaked-sleeper (sleep) at " in out, out
    for innocent in ("cancelled-sleeper", "short-sleeper"):
        assert innocent not in out, out
