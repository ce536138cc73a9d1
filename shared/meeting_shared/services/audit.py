"""The audit log: one row per event, filled by a consumer, listed by administrators."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from meeting_shared.bus import EventBus
from meeting_shared.db.engine import Database
from meeting_shared.db.models import AuditEntry
from meeting_shared.db.pagination import Page, PageRequest, paginate
from meeting_shared.events import Event, EventData, stream_of

# Fields that must not be copied into the log (sealed secrets travel in some events).
SECRET_FIELDS = frozenset({"sealed_token", "sealed_email"})


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def subscribe(self, bus: EventBus) -> None:
        # Every domain event; streams (speech on its way to captions) are traffic, not actions.
        for event_type in sorted(EventData.registry):
            if stream_of(event_type) is None:
                bus.subscribe(event_type, self.record, name="audit")

    async def record(self, event: Event) -> None:
        subject_type, _, subject_id = event.subject.partition("/")
        actor = event.data.get("actor_id")
        details = {k: v for k, v in event.data.items() if k not in SECRET_FIELDS}
        async with self._db.session() as session:
            session.add(
                AuditEntry(
                    at=event.time,
                    actor_id=uuid.UUID(actor) if isinstance(actor, str) else None,
                    action=event.type,
                    subject_type=subject_type[:32],
                    subject_id=subject_id[:64] or None,
                    event_id=event.id,
                    details=details,
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()  # recorded already: the log has each event once


class AuditEntryPublic(BaseModel):
    id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None
    action: str
    subject_type: str
    subject_id: str | None
    event_id: uuid.UUID | None
    details: dict[str, object]


async def list_audit(
    db: Database,
    page: PageRequest,
    *,
    action: str | None = None,
    subject_id: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> Page[AuditEntryPublic]:
    """Newest first, filtered by action prefix (``meeting.``), subject or actor."""
    query = select(AuditEntry)
    if action:
        query = query.where(AuditEntry.action.startswith(action))
    if subject_id:
        query = query.where(AuditEntry.subject_id == subject_id)
    if actor_id:
        query = query.where(AuditEntry.actor_id == actor_id)
    async with db.read_session() as session:
        found = await paginate(session, query.order_by(AuditEntry.at.desc(), AuditEntry.id), page)
    items = [AuditEntryPublic.model_validate(row, from_attributes=True) for row in found.items]
    return Page(items=items, total=found.total, page=found.page, page_size=found.page_size)
