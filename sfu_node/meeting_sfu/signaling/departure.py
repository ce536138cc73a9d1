"""A connection's end: its media leaves the room, the room hears why, and a departure nobody
recorded yet (a drop, a goodbye) is recorded once, through the attendance service."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Literal

from meeting_sfu.ai import NodeAi
from meeting_sfu.protocol import ParticipantLeftFrame
from meeting_sfu.rooms import Connection, RoomRegistry
from meeting_sfu.signaling.reading import DROPPED
from meeting_shared.errors import MeetingError
from meeting_shared.services.factory import OpenServices


class Departure:
    def __init__(
        self,
        rooms: RoomRegistry,
        ai: NodeAi,
        *,
        room_closed: Callable[[uuid.UUID], Awaitable[None]],
        open_services: OpenServices,
    ) -> None:
        self._rooms = rooms
        self._ai = ai
        self._room_closed = room_closed  # the room's last connection is gone
        self._open_services = open_services

    async def depart(self, connection: Connection, reason: str) -> None:
        """``connection`` ended for ``reason`` (what ``read_frames`` returned, or ``removed``)."""
        try:
            room = self._rooms.rooms.get(connection.meeting_id)
            if room is not None and connection.media is not None:
                await room.media.leave(connection.media)
            was_current = await self._rooms.leave(connection)
            if connection.meeting_id not in self._rooms.rooms:
                self._ai.room_closed(connection.meeting_id)
                await self._room_closed(connection.meeting_id)
            if not was_current:
                return  # replaced by a newer connection of the same person
            dropped = reason in DROPPED
            if dropped or reason == "left":  # nothing recorded the departure yet
                await self._mark_left(connection)  # first, so the API agrees with what others see
            shown: Literal["left", "removed", "disconnected"] = (
                "removed" if reason == "removed" else "disconnected" if dropped else "left"
            )
            room = self._rooms.rooms.get(connection.meeting_id)
            if room is not None:
                room.broadcast(ParticipantLeftFrame(user_id=connection.user_id, reason=shown))
        finally:
            await connection.finish()

    async def _mark_left(self, connection: Connection) -> None:
        actor, stay = connection.actor, connection.info.joined_at
        with contextlib.suppress(MeetingError):
            async with self._open_services() as services:
                await services.attendance.leave(actor, connection.meeting_id, stay=stay)
