"""The leak check fails a test that leaves a task running, and only such a test."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.tasks import cancel_all, describe, leaked_tasks, running_tasks

pytestmark = pytest.mark.unit

PROBE = Path(__file__).with_name("leak_probe.py")


async def test_a_task_left_pending_is_a_leak() -> None:
    before = running_tasks()
    task = asyncio.create_task(asyncio.sleep(3600), name="left-behind")
    try:
        leaked = await leaked_tasks(before, grace=0.05)
        assert leaked == [task]
        assert describe(task).startswith("left-behind (sleep) at ")
    finally:
        await cancel_all([task])
    assert task.cancelled()


async def test_finished_cancelled_and_older_tasks_are_not_leaks() -> None:
    older = asyncio.create_task(asyncio.sleep(3600))
    try:
        before = running_tasks()
        await asyncio.create_task(asyncio.sleep(0))
        asyncio.create_task(asyncio.sleep(3600)).cancel()
        soon = asyncio.create_task(asyncio.sleep(0.05))
        assert await leaked_tasks(before, grace=5) == []
        assert soon.done()
    finally:
        await cancel_all([older])


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
