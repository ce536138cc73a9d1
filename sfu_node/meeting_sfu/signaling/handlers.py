"""One handler per client frame type, like the control plane's routes: each makes one service
call (or one media step), then updates the room; errors map to ``error`` frames in one place.

Changes made through a service reach the room as events (``bus_handlers``), whichever socket or
API made them, so a handler here only makes the change.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic_core
from pydantic import BaseModel, ValidationError

from meeting_sfu.ai import NodeAi
from meeting_sfu.media.session import MediaSession
from meeting_sfu.protocol import (
    CLIENT_FRAME,
    AdmitFromLobbyFrame,
    AnnounceFrame,
    ChangeRoleFrame,
    DenyFromLobbyFrame,
    EndMeetingFrame,
    ErrorFrame,
    IceCandidateFrame,
    MutedByHostFrame,
    MuteParticipantFrame,
    PingFrame,
    PongFrame,
    PublishOfferFrame,
    RaiseHandFrame,
    RemoveParticipantFrame,
    SendChatFrame,
    SetEmotionCuesFrame,
    SetMuteFrame,
    StartRecordingFrame,
    StopRecordingFrame,
    SubscribeAnswerFrame,
)
from meeting_sfu.rooms import Connection, RoomRegistry
from meeting_sfu.signaling.problems import describe
from meeting_sfu.signaling.updates import RoomUpdates
from meeting_shared.errors import MeetingError
from meeting_shared.services.attendance import RoleChange
from meeting_shared.services.chat import NewMessage
from meeting_shared.services.factory import OpenServices
from meeting_shared.services.rate_limits import RateLimiter

logger = logging.getLogger(__name__)

MAX_TYPE_ECHO = 64


class FrameHandlers:
    """The handling of one client frame, and a handler per frame type (``HANDLERS``)."""

    def __init__(
        self,
        rooms: RoomRegistry,
        updates: RoomUpdates,
        ai: NodeAi,
        *,
        open_services: OpenServices,
        limiter: RateLimiter,
    ) -> None:
        self._rooms = rooms
        self._updates = updates
        self._ai = ai
        self._open_services = open_services
        self._limiter = limiter

    async def handle(self, connection: Connection, text: str) -> None:
        """Parse one frame and act on it; whatever fails is answered with an ``error`` frame."""
        try:
            # pydantic's parser, unlike json.loads, refuses deep nesting with a ValueError
            # rather than a RecursionError.
            raw = pydantic_core.from_json(text)
        except ValueError:
            connection.send(ErrorFrame(code="invalid_json", message="Frames are JSON objects"))
            return
        kind = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(kind, str) or len(kind) > MAX_TYPE_ECHO:
            kind = None  # only a plausible frame type is echoed in ``in_reply_to``
        try:
            frame = CLIENT_FRAME.validate_python(raw)
            await HANDLERS[type(frame)](self, connection, frame)
        except (ValidationError, MeetingError) as exc:
            code, message = describe(exc)
            connection.send(ErrorFrame(code=code, message=message, in_reply_to=kind))
        except Exception:
            logger.exception("signaling frame failed", extra={"frame_type": kind})
            connection.send(
                ErrorFrame(
                    code="internal_error",
                    message="The node could not act on that",
                    in_reply_to=kind,
                )
            )

    # --- presence -------------------------------------------------------------------------------

    async def ping(self, connection: Connection, frame: PingFrame) -> None:
        connection.send(PongFrame(id=frame.id))

    async def mute(self, connection: Connection, frame: SetMuteFrame) -> None:
        if frame.audio is not None:
            connection.info.audio_muted = frame.audio
        if frame.video is not None:
            connection.info.video_muted = frame.video
        await self._updates.participant_updated(connection)

    async def raise_hand(self, connection: Connection, frame: RaiseHandFrame) -> None:
        connection.info.hand_raised = frame.raised
        await self._updates.participant_updated(connection)

    async def chat(self, connection: Connection, frame: SendChatFrame) -> None:
        async with self._open_services() as services:
            message, sender = await services.chat.post(
                connection.actor, connection.meeting_id, NewMessage(body=frame.body)
            )
        self._updates.chat(self._rooms.room(connection.meeting_id), message, sender)

    # --- moderation -----------------------------------------------------------------------------

    async def mute_participant(self, connection: Connection, frame: MuteParticipantFrame) -> None:
        async with self._open_services(read_only=True) as services:
            await services.attendance.require_manager(connection.actor, connection.meeting_id)
        target = self._rooms.connection(connection.meeting_id, frame.user_id)
        if target is None:
            raise MeetingError("Nobody by that id is in the room", code="participant_not_found")
        target.send(MutedByHostFrame(by=connection.user_id))
        target.info.audio_muted = True
        await self._updates.participant_updated(target)

    async def remove_participant(
        self, connection: Connection, frame: RemoveParticipantFrame
    ) -> None:
        async with self._open_services() as services:
            await services.attendance.remove(connection.actor, connection.meeting_id, frame.user_id)

    async def change_role(self, connection: Connection, frame: ChangeRoleFrame) -> None:
        change = RoleChange.model_validate({"role": frame.role})
        async with self._open_services() as services:
            await services.attendance.change_role(
                connection.actor, connection.meeting_id, frame.user_id, change
            )

    async def admit(self, connection: Connection, frame: AdmitFromLobbyFrame) -> None:
        async with self._open_services() as services:
            await services.attendance.decide(
                connection.actor, connection.meeting_id, frame.user_id, admit=True
            )

    async def deny(self, connection: Connection, frame: DenyFromLobbyFrame) -> None:
        async with self._open_services() as services:
            await services.attendance.decide(
                connection.actor, connection.meeting_id, frame.user_id, admit=False
            )

    async def end_meeting(self, connection: Connection, frame: EndMeetingFrame) -> None:
        async with self._open_services() as services:
            await services.meetings.end(connection.actor, connection.meeting_id)

    # --- media ----------------------------------------------------------------------------------

    async def publish_offer(self, connection: Connection, frame: PublishOfferFrame) -> None:
        sources = {track.mid: track.source for track in frame.tracks}
        await _media(connection).publish_offer(frame.sdp, sources)

    async def subscribe_answer(self, connection: Connection, frame: SubscribeAnswerFrame) -> None:
        await _media(connection).subscribe_answer(frame.sdp)

    async def candidate(self, connection: Connection, frame: IceCandidateFrame) -> None:
        await _media(connection).add_candidate(
            frame.pc, frame.candidate, frame.sdp_mid, frame.sdp_mline_index
        )

    # --- AI and recording -----------------------------------------------------------------------

    async def set_emotion_cues(self, connection: Connection, frame: SetEmotionCuesFrame) -> None:
        self._ai.set_emotion_cues(connection.meeting_id, connection.user_id, frame.enabled)

    async def announce(self, connection: Connection, frame: AnnounceFrame) -> None:
        actor = connection.actor
        async with self._open_services(read_only=True) as services:
            await services.attendance.require_manager(actor, connection.meeting_id)
        await self._limiter.check("ai", str(actor.user_id))  # as REST AI calls are
        room = self._rooms.room(connection.meeting_id)
        await self._ai.announce(room, connection.user_id, connection.info.display_name, frame.text)

    async def start_recording(self, connection: Connection, frame: StartRecordingFrame) -> None:
        async with self._open_services() as services:
            await services.recordings.start(connection.actor, connection.meeting_id)

    async def stop_recording(self, connection: Connection, frame: StopRecordingFrame) -> None:
        async with self._open_services() as services:
            await services.recordings.stop(connection.actor, connection.meeting_id)


Handler = Callable[[FrameHandlers, Connection, Any], Awaitable[None]]

# The handler of each client frame type (a test checks that every type has one).
HANDLERS: dict[type[BaseModel], Handler] = {
    PingFrame: FrameHandlers.ping,
    SendChatFrame: FrameHandlers.chat,
    SetMuteFrame: FrameHandlers.mute,
    RaiseHandFrame: FrameHandlers.raise_hand,
    MuteParticipantFrame: FrameHandlers.mute_participant,
    RemoveParticipantFrame: FrameHandlers.remove_participant,
    ChangeRoleFrame: FrameHandlers.change_role,
    AdmitFromLobbyFrame: FrameHandlers.admit,
    DenyFromLobbyFrame: FrameHandlers.deny,
    PublishOfferFrame: FrameHandlers.publish_offer,
    SubscribeAnswerFrame: FrameHandlers.subscribe_answer,
    IceCandidateFrame: FrameHandlers.candidate,
    SetEmotionCuesFrame: FrameHandlers.set_emotion_cues,
    AnnounceFrame: FrameHandlers.announce,
    StartRecordingFrame: FrameHandlers.start_recording,
    StopRecordingFrame: FrameHandlers.stop_recording,
    EndMeetingFrame: FrameHandlers.end_meeting,
}


def _media(connection: Connection) -> MediaSession:
    if connection.media is None or connection.media.closed:
        raise MeetingError("This connection has no media session", code="no_media")
    return connection.media
