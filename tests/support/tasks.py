"""Finding the asyncio tasks a test started and left running: a leaked task keeps a socket, a
room or a consumer alive into the next test, and hides the bug that forgot to stop it.

A task belongs to the test whose body created it, directly or through tasks that body created:
a task factory on the loop records, for every new task, the test named in the context it is
created in (``OWNER``, set by tests/conftest.py while a test body runs; a task's context is a
copy of its creator's). Tasks that long-lived servers and clients of wider-scoped fixtures start
while a test runs (a Kafka client reconnecting, a server's request handler) are created in their
own contexts, so they belong to no test, however late they start.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import weakref
from collections.abc import Coroutine, Iterator
from typing import Any

LEAK_GRACE_SECONDS = 10.0
"""How long tasks that a test ended (closed a socket, cancelled) get to finish on their own: a
busy node may take seconds to wind down the handlers of sockets that a test has just closed."""

OWNER: contextvars.ContextVar[str | None] = contextvars.ContextVar("test_owner", default=None)
_owners: weakref.WeakKeyDictionary[asyncio.Future[Any], str] = weakref.WeakKeyDictionary()


def track_owners(loop: asyncio.AbstractEventLoop) -> None:
    """Record the owning test of every task created on ``loop`` from now on (idempotent)."""
    previous = loop.get_task_factory()
    if getattr(previous, "records_owners", False):
        return
    if previous is not None:
        raise RuntimeError(f"the test loop has a task factory already: {previous!r}")

    def factory(
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any],
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, context=context)
        owner = OWNER.get() if context is None else context.get(OWNER)
        if owner is not None:
            _owners[task] = owner
        return task

    factory.records_owners = True  # type: ignore[attr-defined]
    # typeshed's factory type has no ``context``, which loop.create_task passes when given one.
    loop.set_task_factory(factory)  # type: ignore[arg-type]


@contextlib.contextmanager
def owned_by(owner: str) -> Iterator[None]:
    """Tasks created inside belong to ``owner``."""
    token = OWNER.set(owner)
    try:
        yield
    finally:
        OWNER.reset(token)


async def leaked_tasks(owner: str, *, grace: float = LEAK_GRACE_SECONDS) -> list[asyncio.Task[Any]]:
    """``owner``'s tasks still pending after ``grace`` s.

    Tasks that finish within the grace (a handler whose socket just closed, a task being
    cancelled) are not leaks; the caller's own task is never one.
    """
    current = asyncio.current_task()
    started = [t for t in asyncio.all_tasks() if _owners.get(t) == owner and t is not current]
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
