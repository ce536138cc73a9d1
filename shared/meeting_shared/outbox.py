"""Publishes committed outbox events to the event bus, in commit order, at least once."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select, update

from meeting_shared.clock import utcnow
from meeting_shared.db.engine import Database
from meeting_shared.db.models import OutboxEvent
from meeting_shared.events import Event, EventBus

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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            self._wake.clear()
            try:
                await self.drain()
                backoff = poll_interval
            except Exception:
                logger.exception("outbox relay failed; retrying")
                backoff = min(backoff * 2, 30.0)
