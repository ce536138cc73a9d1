"""How a process hands events to its handlers, whichever bus carried them.

Every handler is a named consumer. An event reaches it at most once per consumer (ids of handled
events are remembered in the state store, shared by the workers of one deployment), a failure is
retried with backoff, and after the last attempt the event is parked as a dead letter that an
administrator can list and replay (replaying publishes it again: the consumers that handled it
already skip it, the one that failed gets another go). A failing consumer never undoes a state
change that committed, nor blocks the others.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from opentelemetry.trace import StatusCode
from pydantic import BaseModel
from sqlalchemy import select

from meeting_shared import metrics
from meeting_shared.bus.port import EventBus, EventHandler
from meeting_shared.clock import utcnow
from meeting_shared.db.engine import Database
from meeting_shared.db.models import DeadLetter
from meeting_shared.db.pagination import Page, PageRequest, paginate
from meeting_shared.errors import Conflict, NotFound
from meeting_shared.events import Event
from meeting_shared.state import StateStore
from meeting_shared.telemetry import consuming

logger = logging.getLogger(__name__)

PROCESSED_TTL = 7 * 24 * 3600.0  # longer than any redelivery: Kafka retention, replays


class DeadLetterSink(Protocol):
    async def park(
        self, consumer: str, event: Event | None, raw: Any, error: str, attempts: int
    ) -> None: ...


class DatabaseDeadLetters:
    """Dead letters in the ``dead_letters`` table (and, with Kafka, also on the DLQ topic)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.mirrors: list[Callable[[str, Event | None, Any, str], Awaitable[None]]] = []

    async def park(
        self, consumer: str, event: Event | None, raw: Any, error: str, attempts: int
    ) -> None:
        payload = event.model_dump(mode="json") if event is not None else {"raw": str(raw)[:10000]}
        async with self._db.session() as session:
            session.add(
                DeadLetter(
                    consumer=consumer,
                    event_id=event.id if event is not None else None,
                    event_type=event.type if event is not None else None,
                    payload=payload,
                    error=error[:2000],
                    attempts=attempts,
                )
            )
            await session.commit()
        for mirror in self.mirrors:
            try:
                await mirror(consumer, event, raw, error)
            except Exception:
                logger.warning("dead letter not mirrored", exc_info=True)
        logger.error(
            "event parked as a dead letter",
            extra={"consumer": consumer, "event_id": str(event.id) if event else None},
        )


@dataclass(frozen=True)
class Subscription:
    pattern: str
    handler: EventHandler
    consumer: str  # "<group>:<name>": what processed ids and dead letters are filed under


class Deliveries:
    def __init__(
        self,
        *,
        group: str,
        state: StateStore,
        dead_letters: DeadLetterSink,
        backoff: Sequence[float] = (0.05, 0.2, 1.0),
    ) -> None:
        self.group = group
        self._state = state
        self._dead_letters = dead_letters
        self._backoff = tuple(backoff)
        self.subscriptions: list[Subscription] = []

    def subscribe(self, pattern: str, handler: EventHandler, name: str | None = None) -> None:
        consumer = f"{self.group}:{name or getattr(handler, '__qualname__', repr(handler))}"
        self.subscriptions.append(Subscription(pattern, handler, consumer))

    def wants(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, s.pattern) for s in self.subscriptions)

    async def deliver(self, event: Event) -> None:
        for subscription in list(self.subscriptions):
            if fnmatch.fnmatchcase(event.type, subscription.pattern):
                await self._deliver_one(subscription, event)

    async def _deliver_one(self, subscription: Subscription, event: Event) -> None:
        key = f"processed:{subscription.consumer}:{event.id}"
        if await self._state.get(key) is not None:
            return  # a redelivery (relay retry, Kafka rebalance, replay): applied once already
        with consuming(event.type, event.traceparent, subscription.consumer, str(event.id)) as span:
            error = await self._handle(subscription, event)
            if error is None:
                await self._state.set(key, "1", ttl=PROCESSED_TTL)
                metrics.EVENTS_HANDLED.labels(subscription.consumer).inc()
                return
            span.set_status(StatusCode.ERROR, error)
        metrics.EVENTS_DEAD_LETTERED.labels(subscription.consumer).inc()
        await self._dead_letters.park(
            subscription.consumer, event, None, error, len(self._backoff) + 1
        )

    async def _handle(self, subscription: Subscription, event: Event) -> str | None:
        """Run the handler, retrying with backoff; the last error if it never succeeded."""
        error = ""
        for attempt in range(len(self._backoff) + 1):
            try:
                await subscription.handler(event)
            except Exception as exc:
                metrics.EVENTS_FAILED.labels(subscription.consumer).inc()
                error = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "event handler failed",
                    exc_info=True,
                    extra={"consumer": subscription.consumer, "event_id": str(event.id)},
                )
                if attempt < len(self._backoff):
                    await asyncio.sleep(self._backoff[attempt])
                continue
            return None
        return error

    async def park_unreadable(self, raw: Any, error: str) -> None:
        """A message that is not an event at all (nothing can handle it, ever)."""
        await self._dead_letters.park(f"{self.group}:decode", None, raw, error, 1)


class LoggedDeadLetters:
    """A sink for tools and tests without a database: dead letters only go to the log."""

    def __init__(self) -> None:
        self.parked: list[tuple[str, Event | None, str]] = []

    async def park(
        self, consumer: str, event: Event | None, raw: Any, error: str, attempts: int
    ) -> None:
        self.parked.append((consumer, event, error))
        logger.error("event parked as a dead letter", extra={"consumer": consumer})


class DeadLetterPublic(BaseModel):
    id: uuid.UUID
    consumer: str
    event_id: uuid.UUID | None
    event_type: str | None
    payload: dict[str, Any]
    error: str
    attempts: int
    created_at: datetime
    replayed_at: datetime | None


async def list_dead_letters(
    db: Database, page: PageRequest, *, pending_only: bool = False
) -> Page[DeadLetterPublic]:
    query = select(DeadLetter)
    if pending_only:
        query = query.where(DeadLetter.replayed_at.is_(None))
    async with db.read_session() as session:
        found = await paginate(session, query.order_by(DeadLetter.created_at.desc()), page)
    items = [DeadLetterPublic.model_validate(row, from_attributes=True) for row in found.items]
    return Page(items=items, total=found.total, page=found.page, page_size=found.page_size)


async def replay_dead_letter(
    db: Database, bus: EventBus, dead_letter_id: uuid.UUID
) -> DeadLetterPublic:
    """Publish the parked event again: consumers that handled it skip it (processed ids), the
    one that gave up handles it now. Replaying twice is allowed (a fix may take two tries)."""
    async with db.session() as session:
        row = await session.get(DeadLetter, dead_letter_id)
        if row is None:
            raise NotFound("No such dead letter", code="dead_letter_not_found")
        if row.event_id is None:
            raise Conflict(
                "This message is not an event: it cannot be replayed", code="not_replayable"
            )
        event = Event.model_validate(row.payload)
        await bus.publish([event])
        row.replayed_at = utcnow()
        await session.commit()
        return DeadLetterPublic.model_validate(row, from_attributes=True)
