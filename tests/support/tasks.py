"""Finding the asyncio tasks a test started and left running: a leaked task keeps a socket, a
room or a consumer alive into the next test, and hides the bug that forgot to stop it."""

from __future__ import annotations

import asyncio
from typing import Any

LEAK_GRACE_SECONDS = 10.0
"""How long tasks that a test ended (closed a socket, cancelled) get to finish on their own: a
busy node may take seconds to wind down the handlers of sockets that a test has just closed."""


def running_tasks() -> set[asyncio.Task[Any]]:
    """The pending tasks of the running loop, to compare with after the test."""
    return asyncio.all_tasks()


async def leaked_tasks(
    before: set[asyncio.Task[Any]], *, grace: float = LEAK_GRACE_SECONDS
) -> list[asyncio.Task[Any]]:
    """The tasks started since ``before`` was taken that are still pending after ``grace`` s.

    Tasks that finish within the grace (a handler whose socket just closed, a task being
    cancelled) are not leaks; the caller's own task is never one.
    """
    current = asyncio.current_task()
    started = [t for t in asyncio.all_tasks() if t not in before and t is not current]
    if started:
        await asyncio.wait(started, timeout=grace)
    return [t for t in started if not t.done()]


def describe(task: asyncio.Task[Any]) -> str:
    """A pending task's name, its coroutine and the line it waits at."""
    frames = task.get_stack(limit=1)
    where = f"{frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else "?"
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", type(coro).__name__)
    return f"{task.get_name()} ({name}) at {where}"


async def cancel_all(tasks: list[asyncio.Task[Any]], *, grace: float = LEAK_GRACE_SECONDS) -> None:
    """Cancel leaked tasks so that they do not run on into the next test."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=grace)
