"""Joining a room: the join frame first, its token checked once, then the room's snapshot."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from meeting_sfu.ai import NodeAi
from meeting_sfu.ice import ice_servers_for
from meeting_sfu.media.session import MediaSession
from meeting_sfu.protocol import (
    JOIN_FRAME,
    PROTOCOL_VERSION,
    CloseCode,
    ErrorFrame,
    JoinedFrame,
    MeetingInfo,
    ParticipantJoinedFrame,
    RecordingStateFrame,
)
from meeting_sfu.rooms import Connection, RoomRegistry
from meeting_sfu.signaling.problems import describe
from meeting_sfu.signaling.updates import RoomUpdates
from meeting_shared.db.models import Meeting
from meeting_shared.errors import Forbidden, MeetingError, Unauthenticated
from meeting_shared.security import TokenService
from meeting_shared.services.factory import OpenServices
from meeting_shared.services.meetings import MANAGER_ROLES
from meeting_shared.services.rooms import ParticipantInfo, TrackInfo
from meeting_shared.settings import Settings
from meeting_shared.state import StateStore

logger = logging.getLogger(__name__)

JOIN_TIMEOUT_SECONDS = 10.0
NOT_HERE = ("wrong_node", "meeting_not_live")  # refusals that send the client elsewhere (4404)


class Admission:
    """Turns a fresh socket into a seated ``Connection``, or closes it saying why."""

    def __init__(
        self,
        node_id: str,
        rooms: RoomRegistry,
        updates: RoomUpdates,
        ai: NodeAi,
        *,
        recording_state: Callable[[uuid.UUID], RecordingStateFrame],
        settings: Settings,
        tokens: TokenService,
        state: StateStore,
        open_services: OpenServices,
    ) -> None:
        self._node_id = node_id
        self._rooms = rooms
        self._updates = updates
        self._ai = ai
        self._recording_state = recording_state
        self._settings = settings  # for the ICE servers a joined client gets
        self._tokens = tokens
        self._state = state
        self._open_services = open_services

    async def join(self, websocket: WebSocket) -> Connection | None:
        """The connection of whoever sent a valid join frame; None when the socket was closed."""
        text = await self._first_frame(websocket)
        if text is None:
            return None
        try:
            info, meeting = await self._admit(text)
        except (ValidationError, MeetingError) as exc:
            code, message = describe(exc)
            await websocket.send_text(
                ErrorFrame(code=code, message=message, in_reply_to="join").model_dump_json()
            )
            close = CloseCode.NOT_HERE if code in NOT_HERE else CloseCode.UNAUTHORIZED
            await websocket.close(code=close, reason=code)
            return None
        return await self._enter(websocket, info, meeting)

    @staticmethod
    async def _first_frame(websocket: WebSocket) -> str | None:
        try:
            return await asyncio.wait_for(websocket.receive_text(), JOIN_TIMEOUT_SECONDS)
        except TimeoutError:
            await websocket.close(code=CloseCode.JOIN_TIMEOUT, reason="send join first")
        except KeyError:  # a binary frame
            await websocket.close(code=CloseCode.UNAUTHORIZED, reason="send a join frame first")
        except (WebSocketDisconnect, RuntimeError):
            pass
        return None

    async def _admit(self, text: str) -> tuple[ParticipantInfo, Meeting]:
        frame = JOIN_FRAME.validate_json(text)
        if frame.v != PROTOCOL_VERSION:
            raise Unauthenticated(
                f"This node speaks protocol {PROTOCOL_VERSION}", code="unsupported_version"
            )
        claims = self._tokens.read_join(frame.token)
        if claims.node_id != self._node_id:
            raise Forbidden("This meeting's room is on another node", code="wrong_node")
        async with self._open_services(read_only=True) as services:
            admitted = await services.attendance.admit_to_room(claims)
        if admitted is None:
            raise Unauthenticated("Join the meeting again", code="not_a_participant")
        info, meeting = admitted
        # One connection per join: a copied token cannot open a second socket (and push the
        # real participant out); reconnecting means joining again through the API.
        ttl = self._tokens.join_ttl + 60
        if not await self._state.set_if_absent(f"join-token:{claims.token_id}", "1", ttl):
            raise Unauthenticated("This join token was used already", code="join_token_used")
        return info, meeting

    async def _enter(
        self, websocket: WebSocket, info: ParticipantInfo, meeting: Meeting
    ) -> Connection:
        connection = Connection(websocket, info, meeting.id)
        self._ai.room_opened(meeting)
        replaced = await self._rooms.enter(connection)
        if replaced is not None:
            replaced.close(CloseCode.REPLACED, "joined from another connection")
        room = self._rooms.room(meeting.id)
        connection.send(
            JoinedFrame(
                me=info,
                participants=room.others(info.user_id),
                meeting=MeetingInfo(id=meeting.id, title=meeting.title, settings=meeting.settings),
                ice_servers=ice_servers_for(self._settings, info.user_id, time.time()),
                recording=self._recording_state(meeting.id),
            )
        )
        if replaced is None:
            room.broadcast(ParticipantJoinedFrame(participant=info), skip=info.user_id)
        connection.media = MediaSession(
            room.media, info.user_id, connection.send, self._tracks_changer(connection)
        )
        room.media.enter(connection.media)
        if info.role in MANAGER_ROLES:
            try:
                await self._updates.send_lobby(connection)
            except Exception:  # the room works without it; new requests still reach them
                logger.warning("lobby snapshot not sent", exc_info=True)
        return connection

    def _tracks_changer(
        self, connection: Connection
    ) -> Callable[[list[TrackInfo]], Awaitable[None]]:
        async def tracks_changed(tracks: list[TrackInfo]) -> None:
            connection.info.tracks = tracks
            await self._rooms.publish(connection)

        return tracks_changed
