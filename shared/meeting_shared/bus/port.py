"""The event-bus port: how the outbox relay hands committed events over, and how a process's
consumers get them. Adapters: ``local`` (in-process, embedded) and ``kafka`` (production); both
hand events to their consumers through ``delivery``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from meeting_shared.events import Event

EventHandler = Callable[[Event], Awaitable[None]]


class EventBus(Protocol):
    async def publish(self, events: Sequence[Event]) -> None:
        """Deliver events in order; raise ``Unavailable`` if they could not be handed over."""
        ...

    def subscribe(self, pattern: str, handler: EventHandler, name: str | None = None) -> None:
        """Call ``handler`` for every event whose type matches the glob ``pattern``, as the
        consumer ``name`` (default: the handler's qualified name)."""
        ...

    async def run(self) -> None:
        """Receive events for this process's consumers until cancelled (a no-op where
        ``publish`` delivers them directly)."""
        ...

    async def aclose(self) -> None: ...
