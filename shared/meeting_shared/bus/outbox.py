"""Publishes committed outbox events to the event bus, in commit order, at least once; and
follows the outbox for processes that only listen."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable

from sqlalchemy import func, select, update

from meeting_shared import metrics
from meeting_shared.background import wait_for_event
from meeting_shared.bus.port import EventBus
from meeting_shared.clock import utcnow
from meeting_shared.db.engine import Database
from meeting_shared.db.models import OutboxEvent
from meeting_shared.events import Event

logger = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, db: Database, bus: EventBus, *, batch_size: int = 200) -> None:
        self._db = db
        self._bus = bus
        self._batch_size = batch_size
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Called after a commit that recorded events, so they go out without waiting a poll."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished events; returns how many went out."""
        async with self._db.session() as session:
            query = (
                select(OutboxEvent)
                .where(OutboxEvent.published.is_(False))
                .order_by(OutboxEvent.seq)
                .limit(self._batch_size)
            )
            if self._db.dialect == "postgresql":
                # Several relays may run; each batch is taken by exactly one of them.
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.scalars(query)).all())
            if not rows:
                return 0
            events = [Event.model_validate(row.payload) for row in rows]
            await self._bus.publish(events)
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.seq.in_([row.seq for row in rows]))
                .values(published=True, published_at=utcnow(), attempts=OutboxEvent.attempts + 1)
            )
            await session.commit()
        published_at = utcnow()
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(row.type).inc()
            metrics.OUTBOX_LAG.observe((published_at - row.created_at).total_seconds())
        return len(rows)

    async def drain(self) -> int:
        """Publish until nothing is pending."""
        total = 0
        while published := await self.publish_pending():
            total += published
        return total

    async def run(self, *, poll_interval: float = 1.0) -> None:
        """Relay forever: wake on notify or every ``poll_interval`` seconds; survive outages."""
        backoff = poll_interval
        while True:
            await wait_for_event(self._wake, backoff)
            self._wake.clear()
            try:
                await self.drain()
                backoff = poll_interval
            except Exception:
                metrics.OUTBOX_FAILURES.inc()
                logger.exception("outbox relay failed; retrying")
                backoff = min(backoff * 2, 30.0)


class OutboxFeed:
    """Follows the outbox table and hands every newly committed event to a local bus.

    For processes that must see events but never relay them (a standalone media node, until the
    Kafka backbone of issue 5 carries events between processes). Several feeds can follow one
    outbox; none of them changes it. Sequence numbers are assigned before commit, so a
    transaction may commit after a later one: each poll looks back ``lookback`` sequence numbers
    and skips events it already delivered (handlers see each event once).
    """

    def __init__(
        self, db: Database, bus: EventBus, *, lookback: int = 256, remember: int = 10_000
    ) -> None:
        self._db = db
        self._bus = bus
        self._lookback = lookback
        self._cursor: int | None = None
        self._seen: dict[uuid.UUID, None] = {}  # insertion-ordered: the oldest go first
        self._remember = remember

    async def poll(self) -> int:
        """Deliver what was committed since the last poll; returns how many events."""
        async with self._db.read_session() as session:
            starting = self._cursor is None
            if self._cursor is None:  # start at the end: a new node acts on new events only
                self._cursor = await session.scalar(select(func.max(OutboxEvent.seq))) or 0
            rows = (
                await session.execute(
                    select(OutboxEvent.seq, OutboxEvent.id, OutboxEvent.payload)
                    .where(OutboxEvent.seq > self._cursor - self._lookback)
                    .order_by(OutboxEvent.seq)
                )
            ).all()
        if starting:
            self._remember_ids(row.id for row in rows if row.seq <= self._cursor)
        fresh = [row for row in rows if row.id not in self._seen]
        if not fresh:
            return 0
        await self._bus.publish([Event.model_validate(row.payload) for row in fresh])
        self._remember_ids(row.id for row in fresh)
        self._cursor = max(self._cursor, *(row.seq for row in fresh))
        return len(fresh)

    def _remember_ids(self, ids: Iterable[uuid.UUID]) -> None:
        for event_id in ids:
            self._seen[event_id] = None
        while len(self._seen) > self._remember:
            del self._seen[next(iter(self._seen))]

    async def run(self, *, poll_interval: float = 0.2) -> None:
        """Follow forever; a failed poll is retried with backoff."""
        backoff = poll_interval
        while True:
            try:
                await self.poll()
                backoff = poll_interval
            except Exception:
                logger.exception("outbox feed failed; retrying")
                backoff = min(backoff * 2, 10.0)
            await asyncio.sleep(backoff)
