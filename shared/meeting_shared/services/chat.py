"""Meeting chat: messages stamped with the sender by the server, stored, rate limited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints
from sqlalchemy import select

from meeting_shared.db.models import ChatMessage, User
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.errors import Forbidden
from meeting_shared.events import ChatMessagePosted
from meeting_shared.services.actors import Actor
from meeting_shared.services.meetings import load_for_member, meeting_settings, require_open
from meeting_shared.services.rate_limits import RateLimiter

MessageBody = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)
]


class NewMessage(BaseModel):
    body: MessageBody


@dataclass(frozen=True, slots=True)
class ChatPage:
    items: list[tuple[ChatMessage, User]]
    next_before: datetime | None  # pass as ``before`` to get older messages


class ChatService:
    def __init__(self, uow: UnitOfWork, *, limiter: RateLimiter) -> None:
        self._uow = uow
        self._db = uow.session
        self._limiter = limiter

    async def post(
        self, actor: Actor, meeting_id: uuid.UUID, message: NewMessage
    ) -> tuple[ChatMessage, User]:
        meeting, _ = await load_for_member(self._uow, meeting_id, actor)
        require_open(meeting)
        if not meeting_settings(meeting).chat:
            raise Forbidden("Chat is turned off in this meeting", code="chat_disabled")
        await self._limiter.check("chat", f"{meeting_id}:{actor.user_id}")
        sender = await self._db.get(User, actor.user_id)
        assert sender is not None  # an authenticated member exists
        chat = ChatMessage(
            id=uuid.uuid4(), meeting_id=meeting_id, sender_id=actor.user_id, body=message.body
        )
        self._db.add(chat)
        self._uow.record(
            ChatMessagePosted(meeting_id=meeting_id, message_id=chat.id, sender_id=actor.user_id)
        )
        await self._uow.commit()
        return chat, sender

    async def history(
        self, actor: Actor, meeting_id: uuid.UUID, *, before: datetime | None, limit: int
    ) -> ChatPage:
        """The ``limit`` latest messages before ``before``, oldest first."""
        await load_for_member(self._uow, meeting_id, actor)
        query = (
            select(ChatMessage, User)
            .join(User, User.id == ChatMessage.sender_id)
            .where(ChatMessage.meeting_id == meeting_id)
            .order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc())
            .limit(limit + 1)
        )
        if before is not None:
            query = query.where(ChatMessage.created_at < before)
        rows = [(message, user) for message, user in (await self._db.execute(query)).all()]
        more = len(rows) > limit
        rows = rows[:limit]
        rows.reverse()
        return ChatPage(items=rows, next_before=rows[0][0].created_at if more and rows else None)

    # --- the media node's live rooms (used by meeting_sfu.signaling) ----------------------------

    async def message_with_sender(self, message_id: uuid.UUID) -> tuple[ChatMessage, User] | None:
        """A posted message and its sender, to show it in a live room; None when either is gone."""
        message = await self._db.get(ChatMessage, message_id)
        sender = await self._db.get(User, message.sender_id) if message is not None else None
        if message is None or sender is None:
            return None
        return message, sender
