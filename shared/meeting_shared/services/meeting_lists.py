"""Cached meeting lists: the busiest read of the product, kept per user in the state store.

A list page is cached as the exact JSON the API returned, under a per-user generational key (see
``StateStore.cache_read``). Every committed change to a meeting moves the generation of each of
its members, so nobody sees a list older than their last change; only time-driven moves (a
meeting whose end passes into history) wait for the short TTL.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from sqlalchemy import select

from meeting_shared.db.models import Participant
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.errors import MeetingError
from meeting_shared.events import EventData, MeetingEvent
from meeting_shared.state import StateStore

logger = logging.getLogger(__name__)


class MeetingListCache:
    def __init__(self, state: StateStore, *, ttl: float) -> None:
        self._state = state
        self._ttl = ttl

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    @staticmethod
    def _key(user_id: uuid.UUID) -> str:
        return f"meetings:lists:{user_id}"

    async def read(self, user_id: uuid.UUID, variant: str) -> tuple[int, str | None]:
        """The generation to compute at, and the cached body when there is one."""
        if not self.enabled:
            return 0, None
        return await self._state.cache_read(self._key(user_id), variant)

    async def write(self, user_id: uuid.UUID, generation: int, variant: str, body: str) -> None:
        if self.enabled:
            await self._state.cache_write(self._key(user_id), generation, variant, body, self._ttl)

    async def after_commit(self, uow: UnitOfWork, events: Sequence[EventData]) -> None:
        """Invalidate the lists of every member of each meeting the transaction changed.

        The change is committed already: if the state store is down, the lists may lag by up to
        the TTL, which beats failing a request whose change went through.
        """
        meeting_ids = {event.meeting_id for event in events if isinstance(event, MeetingEvent)}
        if not meeting_ids or not self.enabled:
            return
        members = await uow.session.scalars(
            select(Participant.user_id).where(Participant.meeting_id.in_(meeting_ids)).distinct()
        )
        keys = [self._key(user_id) for user_id in members.all()]
        try:
            await self._state.cache_invalidate(keys, self._ttl * 2)
        except MeetingError:
            logger.warning("meeting lists not invalidated", exc_info=True)
