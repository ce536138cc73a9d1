"""The unit of work: one database transaction plus the events it records (the outbox)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meeting_shared.db.models import OutboxEvent
from meeting_shared.errors import Conflict
from meeting_shared.events import EventData

AfterCommit = Callable[["UnitOfWork", Sequence[EventData]], Awaitable[None]]


class UnitOfWork:
    """Wraps one session; ``record`` queues an event that commits atomically with the change.

    ``on_commit`` runs after a commit that recorded events (it wakes the outbox relay);
    ``after_commit`` hooks get those events (e.g. to invalidate caches).
    """

    def __init__(
        self,
        session: AsyncSession,
        *,
        source: str,
        on_commit: Callable[[], None] | None = None,
        after_commit: Sequence[AfterCommit] = (),
    ) -> None:
        self.session = session
        self._source = source
        self._on_commit = on_commit
        self._after_commit = after_commit
        self._recorded: list[EventData] = []

    def record(self, data: EventData) -> None:
        event = data.envelope(self._source)
        self.session.add(
            OutboxEvent(
                id=event.id,
                type=event.type,
                key=event.key,
                payload=event.model_dump(mode="json"),
                created_at=event.time,
            )
        )
        self._recorded.append(data)

    async def commit(self) -> None:
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.rollback()
            raise Conflict("The change conflicts with existing data", code="conflict") from exc
        recorded, self._recorded = self._recorded, []
        if recorded and self._on_commit is not None:
            self._on_commit()
        if recorded:
            for hook in self._after_commit:
                await hook(self, recorded)

    async def rollback(self) -> None:
        await self.session.rollback()
        self._recorded = []
