"""Changes to a meeting made anywhere (this node's sockets, the REST API, another process)
reaching the live rooms here, as events: a removal, a ban or the end of the meeting disconnects
people at once, whichever path made it."""

from __future__ import annotations

from typing import Literal

from meeting_sfu.protocol import (
    CloseCode,
    LobbyRequestFrame,
    LobbyResolvedFrame,
    MeetingEndedFrame,
    RemovedFrame,
)
from meeting_sfu.rooms import RoomRegistry
from meeting_sfu.signaling.updates import RoomUpdates
from meeting_shared.bus import EventBus
from meeting_shared.events import (
    ChatMessagePosted,
    Event,
    MeetingCancelled,
    MeetingEnded,
    ParticipantAdmitted,
    ParticipantDenied,
    ParticipantLeft,
    ParticipantRemoved,
    ParticipantRoleChanged,
    ParticipantWaiting,
    UserBanned,
    UserDeleted,
    parse_event_data,
)
from meeting_shared.services.factory import OpenServices
from meeting_shared.services.meetings import MANAGER_ROLES

LEFT_THROUGH_API = "left the meeting"


class BusHandlers:
    """The node's consumers of meeting events; ``subscribe`` registers them on the bus."""

    def __init__(
        self, rooms: RoomRegistry, updates: RoomUpdates, *, open_services: OpenServices
    ) -> None:
        self._rooms = rooms
        self._updates = updates
        self._open_services = open_services

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(ParticipantRemoved.event_type, self.on_removed)
        bus.subscribe(ParticipantLeft.event_type, self.on_left)
        bus.subscribe(ParticipantRoleChanged.event_type, self.on_role_changed)
        bus.subscribe(MeetingEnded.event_type, self.on_meeting_over)
        bus.subscribe(MeetingCancelled.event_type, self.on_meeting_over)
        bus.subscribe(UserBanned.event_type, self.on_user_gone)
        bus.subscribe(UserDeleted.event_type, self.on_user_gone)
        bus.subscribe(ParticipantWaiting.event_type, self.on_waiting)
        bus.subscribe(ParticipantAdmitted.event_type, self.on_lobby_decided)
        bus.subscribe(ParticipantDenied.event_type, self.on_lobby_decided)
        bus.subscribe(ChatMessagePosted.event_type, self.on_chat_posted)

    async def on_chat_posted(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, ChatMessagePosted)
        room = self._rooms.rooms.get(data.meeting_id)
        if room is None or self._updates.chat_sent(data.message_id):
            return
        async with self._open_services(read_only=True) as services:
            posted = await services.chat.message_with_sender(data.message_id)
        if posted is not None:
            self._updates.chat(room, *posted)

    async def on_removed(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, ParticipantRemoved)
        target = self._rooms.connection(data.meeting_id, data.user_id)
        if target is not None:
            target.send(RemovedFrame(by=data.actor_id))
            target.close(CloseCode.REMOVED, "removed")

    async def on_left(self, event: Event) -> None:
        """Someone left through the API (``POST .../leave``): their socket closes, which takes
        their tracks away and tells the room, as a removal does."""
        data = parse_event_data(event)
        assert isinstance(data, ParticipantLeft)
        target = self._rooms.connection(data.meeting_id, data.user_id)
        if target is None:
            return  # the usual case: the event of a socket that closed itself
        async with self._open_services(read_only=True) as services:
            # Not when the meeting ended (its own event closes every socket, 4000), nor when
            # they joined again since (the event is older than this connection).
            left = await services.attendance.left_live_meeting(
                data.meeting_id, target.info.participant_id
            )
        if left:
            target.close(CloseCode.LEFT, LEFT_THROUGH_API)

    async def on_role_changed(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, ParticipantRoleChanged)
        target = self._rooms.connection(data.meeting_id, data.user_id)
        if target is not None:
            was_manager = target.info.role in MANAGER_ROLES
            target.info.role = data.role
            await self._updates.participant_updated(target)
            if data.role in MANAGER_ROLES and not was_manager:
                await self._updates.send_lobby(target)

    async def on_waiting(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, ParticipantWaiting)
        managers = self._updates.managers(data.meeting_id)
        if not managers:
            return  # nobody here can decide; whoever joins later gets the lobby on join
        async with self._open_services(read_only=True) as services:
            waiting = await services.attendance.lobby_request(data.meeting_id, data.user_id)
        if waiting is None:
            return
        entry, user = waiting
        request = LobbyRequestFrame(
            user_id=user.id, display_name=user.display_name, requested_at=entry.requested_at
        )
        for connection in managers:
            connection.send(request)

    async def on_lobby_decided(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, ParticipantAdmitted | ParticipantDenied)
        resolved = LobbyResolvedFrame(
            user_id=data.user_id,
            admitted=isinstance(data, ParticipantAdmitted),
            by=data.actor_id,
        )
        for connection in self._updates.managers(data.meeting_id):
            connection.send(resolved)

    async def on_meeting_over(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, MeetingEnded | MeetingCancelled)
        room = self._rooms.rooms.get(data.meeting_id)
        if room is None:
            return
        room.broadcast(MeetingEndedFrame(by=data.actor_id))
        for connection in list(room.connections.values()):
            connection.close(CloseCode.MEETING_ENDED, "meeting ended")

    async def on_user_gone(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, UserBanned | UserDeleted)
        reason: Literal["banned", "deleted"] = (
            "banned" if isinstance(data, UserBanned) else "deleted"
        )
        for connection in self._rooms.connections_of(data.user_id):
            connection.send(RemovedFrame(by=data.actor_id, reason=reason))
            connection.close(CloseCode.REMOVED, "removed")
