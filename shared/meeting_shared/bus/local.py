"""The embedded adapter: events go to this process's consumers as the relay publishes them."""

from __future__ import annotations

from collections.abc import Sequence

from meeting_shared.bus.delivery import Deliveries, LoggedDeadLetters
from meeting_shared.bus.port import EventHandler
from meeting_shared.events import Event
from meeting_shared.state.memory import MemoryStateStore


class InProcessEventBus:
    """Delivers on ``publish``: the relay's call returns once every consumer had the events."""

    def __init__(self, deliveries: Deliveries) -> None:
        self.deliveries = deliveries

    def subscribe(self, pattern: str, handler: EventHandler, name: str | None = None) -> None:
        self.deliveries.subscribe(pattern, handler, name)

    async def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            await self.deliveries.deliver(event)

    async def run(self) -> None:
        return  # publish delivers: nothing to receive

    async def aclose(self) -> None:
        self.deliveries.subscriptions.clear()


def local_bus(group: str = "local") -> InProcessEventBus:
    """An in-process bus with in-memory processed ids and logged dead letters."""
    return InProcessEventBus(
        Deliveries(group=group, state=MemoryStateStore(), dead_letters=LoggedDeadLetters())
    )
