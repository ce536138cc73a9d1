"""What the node tells a room besides the frames it forwards: presence changes, the lobby for
hosts and co-hosts, and each chat message once."""

from __future__ import annotations

import uuid

from meeting_sfu.protocol import (
    ChatMessageFrame,
    ChatSender,
    LobbyFrame,
    LobbyWaiter,
    ParticipantUpdatedFrame,
)
from meeting_sfu.rooms import Connection, Room, RoomRegistry
from meeting_shared.db.models import ChatMessage, User
from meeting_shared.errors import MeetingError
from meeting_shared.services.factory import OpenServices
from meeting_shared.services.meetings import MANAGER_ROLES

RECENT_CHAT_IDS = 2048


class RoomUpdates:
    """Room-wide updates shared by the frame handlers, the bus handlers and admission."""

    def __init__(self, rooms: RoomRegistry, open_services: OpenServices) -> None:
        self._rooms = rooms
        self._open_services = open_services
        self._chat_sent: dict[uuid.UUID, None] = {}  # ids of recent chat messages sent to rooms

    async def participant_updated(self, connection: Connection) -> None:
        """Someone's presence changed (mute, hand, role): store it and tell their room."""
        await self._rooms.publish(connection)
        self._rooms.room(connection.meeting_id).broadcast(
            ParticipantUpdatedFrame(participant=connection.info)
        )

    async def send_lobby(self, connection: Connection) -> None:
        """Who waits in the lobby now, for a host or co-host (a manager's join, a promotion);
        nothing when nobody waits."""
        async with self._open_services(read_only=True) as services:
            try:
                rows = await services.attendance.lobby(connection.actor, connection.meeting_id)
            except MeetingError:  # no longer a manager by the time this ran
                return
        if not rows:
            return
        waiting = [
            LobbyWaiter(
                user_id=user.id, display_name=user.display_name, requested_at=entry.requested_at
            )
            for entry, user in rows
        ]
        connection.send(LobbyFrame(waiting=waiting))

    def managers(self, meeting_id: uuid.UUID) -> list[Connection]:
        """The hosts and co-hosts connected to the meeting's room here."""
        room = self._rooms.rooms.get(meeting_id)
        if room is None:
            return []
        return [c for c in room.connections.values() if c.info.role in MANAGER_ROLES]

    def chat_sent(self, message_id: uuid.UUID) -> bool:
        return message_id in self._chat_sent

    def chat(self, room: Room, message: ChatMessage, sender: User) -> None:
        """Send a chat message to the room once, whichever way it reached this node first (the
        socket that posted it, or the event of a message posted through the API)."""
        if message.id in self._chat_sent:
            return
        self._chat_sent[message.id] = None
        while len(self._chat_sent) > RECENT_CHAT_IDS:
            del self._chat_sent[next(iter(self._chat_sent))]
        room.broadcast(
            ChatMessageFrame(
                id=message.id,
                sender=ChatSender(user_id=sender.id, display_name=sender.display_name),
                body=message.body,
                created_at=message.created_at,
            )
        )
