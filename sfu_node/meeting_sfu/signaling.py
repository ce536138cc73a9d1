"""``/ws/signaling``: authenticated room membership, chat, hands, mute state and moderation.

A client joins with the short-lived join token the meeting function issued, then exchanges JSON
frames (``meeting_sfu.protocol``). Changes to the meeting made anywhere (this socket, the REST
API, another process) reach live rooms as events: a removal, a ban or the end of the meeting
disconnects people at once, whichever path made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, get_args

import pydantic_core
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from sqlalchemy import select

from meeting_sfu.ai import NodeAi
from meeting_sfu.ice import ice_servers_for
from meeting_sfu.media import webrtc
from meeting_sfu.media.session import MediaConfig, MediaRoom, MediaSession
from meeting_sfu.media.tracks import Bitrates, PublishedTrack
from meeting_sfu.media.traffic import RateMeter, Traffic
from meeting_sfu.protocol import (
    CLIENT_FRAME,
    FRAME_BURST,
    FRAME_RATE,
    JOIN_FRAME,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    AdmitFromLobby,
    Announce,
    ChangeRole,
    ChatMessage,
    ChatSender,
    CloseCode,
    DenyFromLobby,
    EndMeeting,
    Error,
    IceCandidate,
    Joined,
    Lobby,
    LobbyEntry,
    LobbyRequest,
    LobbyResolved,
    MeetingEnded,
    MeetingInfo,
    MutedByHost,
    MuteParticipant,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantUpdated,
    Ping,
    Pong,
    PublishOffer,
    RaiseHand,
    Removed,
    RemoveParticipant,
    SendChat,
    SetEmotionCues,
    SetMute,
    StartRecording,
    StopRecording,
    SubscribeAnswer,
)
from meeting_sfu.recording import NodeRecordings
from meeting_sfu.rooms import Connection, Room, RoomRegistry
from meeting_shared import metrics
from meeting_shared.clock import utcnow
from meeting_shared.container import Container
from meeting_shared.db.models import ChatMessage as ChatMessageRow
from meeting_shared.db.models import LobbyEntry as LobbyRow
from meeting_shared.db.models import Meeting, Participant, User
from meeting_shared.enums import MeetingStatus, ParticipantState, TrackSource, UserRole, UserStatus
from meeting_shared.errors import Forbidden, MeetingError, Unauthenticated
from meeting_shared.events import (
    ChatMessagePosted,
    Event,
    MeetingCancelled,
    ParticipantAdmitted,
    ParticipantDenied,
    ParticipantRemoved,
    ParticipantRoleChanged,
    ParticipantWaiting,
    UserBanned,
    UserDeleted,
    parse_event_data,
)
from meeting_shared.events import (
    MeetingEnded as MeetingEndedEvent,
)
from meeting_shared.events import (
    ParticipantLeft as ParticipantLeftEvent,
)
from meeting_shared.services.actors import Actor
from meeting_shared.services.attendance import AttendanceService, RoleChange
from meeting_shared.services.chat import NewMessage
from meeting_shared.services.meetings import MANAGER_ROLES, load_for_manager
from meeting_shared.services.nodes import NodeStats
from meeting_shared.services.rooms import (
    ParticipantInfo,
    RoomStats,
    TrackInfo,
    TrackStats,
    stats_key,
)
from meeting_shared.settings import MediaNode

logger = logging.getLogger(__name__)
router = APIRouter()

JOIN_TIMEOUT_SECONDS = 10.0
RECENT_CHAT_IDS = 2048
MAX_TYPE_ECHO = 64
GOODBYE_CODES = (1000, 1001)  # a client closing with these left; any other ending is a drop
# Why the node closed a connection it would not go on serving (a departure nobody recorded):
TOO_SLOW = "too slow"
TOO_MANY_FRAMES = "too many frames"
FRAME_TOO_BIG = "frame too big"
DROPPED = frozenset({"disconnected", TOO_SLOW, TOO_MANY_FRAMES, FRAME_TOO_BIG})
LEFT_THROUGH_API = "left the meeting"


class SignalingNode:
    """The signaling side of one media node."""

    def __init__(self, container: Container, node_id: str) -> None:
        self.container = container
        self.node_id = node_id
        settings = container.settings
        webrtc.use_host_addresses(settings.ice_host_addresses)
        self.media_config = MediaConfig(
            ice_servers=[],  # the SFU needs no STUN/TURN of its own: it has a reachable address
            bitrates=Bitrates(
                camera=settings.media_camera_bitrate, screen=settings.media_screen_bitrate
            ),
        )
        self.traffic = Traffic()
        self.rates = RateMeter(self.traffic)
        self.rooms = RoomRegistry(container.state, node_id, self._media_room)
        self.ai = NodeAi(container, node_id, self.rooms)
        self.recordings = NodeRecordings(container, node_id, self.rooms)
        self._track_samples: dict[str, tuple[float, int]] = {}  # bytes in at the last heartbeat
        self._chat_sent: dict[uuid.UUID, None] = {}  # ids of recent chat messages sent to rooms
        bus = container.bus
        bus.subscribe(ParticipantRemoved.event_type, self._on_removed)
        bus.subscribe(ParticipantLeftEvent.event_type, self._on_left)
        bus.subscribe(ParticipantRoleChanged.event_type, self._on_role_changed)
        bus.subscribe(MeetingEndedEvent.event_type, self._on_meeting_over)
        bus.subscribe(MeetingCancelled.event_type, self._on_meeting_over)
        bus.subscribe(UserBanned.event_type, self._on_user_gone)
        bus.subscribe(UserDeleted.event_type, self._on_user_gone)
        bus.subscribe(ParticipantWaiting.event_type, self._on_waiting)
        bus.subscribe(ParticipantAdmitted.event_type, self._on_lobby_decided)
        bus.subscribe(ParticipantDenied.event_type, self._on_lobby_decided)
        bus.subscribe(ChatMessagePosted.event_type, self._on_chat_posted)
        metrics.MEDIA_NODES.watch(self)

    def _media_room(self, room: Room) -> MediaRoom:
        return MediaRoom(
            room.meeting_id,
            self.media_config,
            self.traffic,
            lambda frame, skip: room.broadcast(frame, skip=skip),
            on_track=self._track_observer(room),
        )

    def _track_observer(self, room: Room) -> Callable[[PublishedTrack, bool], None]:
        """What follows a room's tracks besides forwarding: the AI taps and the recorders."""
        ai = self.ai.observer(room.meeting_id)
        recording = self.recordings.observer(room.meeting_id, room)

        def changed(track: PublishedTrack, published: bool) -> None:
            ai(track, published)
            recording(track, published)

        return changed

    async def heartbeat(self) -> None:
        """Tell the directory this node is alive, how loaded it is and what it forwards, and
        publish each room's forwarding stats, until cancelled."""
        node = await self.container.nodes.lookup(self.node_id)
        if node is None:
            raise RuntimeError(f"NODE_ID {self.node_id!r} is not one of MEDIA_NODES")
        await self.recordings.recover()  # what a crash of this node left half-stored
        interval = self.container.settings.media_node_heartbeat_seconds
        try:
            await self._beat(node, interval)
        finally:  # shutting down: rooms move to other nodes on the next join, not after staleness
            with contextlib.suppress(Exception):
                await asyncio.shield(self.container.nodes.forget(self.node_id))

    async def _beat(self, node: MediaNode, interval: float) -> None:
        while True:
            load = sum(len(room.connections) for room in self.rooms.rooms.values())
            try:
                await self.container.nodes.heartbeat(node, load, self._node_stats())
                for room in list(self.rooms.rooms.values()):
                    stats = self._room_stats(room)
                    await self.container.state.set(
                        stats_key(room.meeting_id), stats.model_dump_json(), ttl=3 * interval
                    )
                await self.ai.sweep_announcements()
                live = {t for r in self.rooms.rooms.values() for t in r.media.tracks}
                for gone in self._track_samples.keys() - live:  # tracks that ended
                    del self._track_samples[gone]
            except MeetingError:
                logger.warning("heartbeat not recorded", exc_info=True)
            await asyncio.sleep(interval)

    def _node_stats(self) -> NodeStats:
        rates = self.rates.sample()
        tracks = [t for room in self.rooms.rooms.values() for t in room.media.tracks.values()]
        return NodeStats(
            rooms=len(self.rooms.rooms),
            published_tracks=len(tracks),
            forwarded_streams=sum(track.subscribers for track in tracks),
            packets_in_per_second=round(rates.packets_in_per_second, 1),
            packets_out_per_second=round(rates.packets_out_per_second, 1),
            bitrate_in=round(rates.bitrate_in),
            bitrate_out=round(rates.bitrate_out),
            retransmitted_packets=self.traffic.retransmitted,
            cpu_percent=round(rates.cpu_percent, 1),
        )

    def forwarding_stats(self) -> metrics.ForwardingStats:
        """For Prometheus, at scrape time: what the node hosts and its traffic totals."""
        rooms = self.rooms.rooms.values()
        tracks = [t for room in rooms for t in room.media.tracks.values()]
        by_source = dict.fromkeys(get_args(TrackSource), 0)
        for track in tracks:
            by_source[track.source] += 1
        traffic = self.traffic
        return metrics.ForwardingStats(
            node_id=self.node_id,
            rooms=len(self.rooms.rooms),
            participants=sum(len(room.connections) for room in rooms),
            published_tracks=by_source,
            forwarded_streams=sum(track.subscribers for track in tracks),
            recordings=self.recordings.rooms_recording,
            packets_received=traffic.packets_in,
            bytes_received=traffic.bytes_in,
            packets_forwarded=traffic.packets_out,
            bytes_forwarded=traffic.bytes_out,
            packets_retransmitted=traffic.retransmitted,
        )

    def _room_stats(self, room: Room) -> RoomStats:
        now = time.monotonic()
        tracks = []
        for track in room.media.tracks.values():
            then, bytes_then = self._track_samples.get(track.track_id, (now, track.bytes_in))
            elapsed = now - then
            self._track_samples[track.track_id] = (now, track.bytes_in)
            reception = track.reception
            tracks.append(
                TrackStats(
                    track_id=track.track_id,
                    user_id=track.user_id,
                    kind=track.kind,
                    source=track.source,
                    subscribers=track.subscribers,
                    packets_received=reception.received,
                    packets_lost=reception.lost,
                    jitter_ms=round(1000 * reception.jitter / reception.clock_rate, 2),
                    bitrate_in=round(8 * (track.bytes_in - bytes_then) / elapsed) if elapsed else 0,
                    target_bitrate=track.target_bitrate if track.kind == "video" else None,
                )
            )
        return RoomStats(
            meeting_id=room.meeting_id,
            node_id=self.node_id,
            updated_at=utcnow(),
            participants=len(room.connections),
            tracks=tracks,
        )

    # --- a connection's life ---------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        origin = websocket.headers.get("origin")
        if origin is not None and origin not in self.container.settings.allowed_origins:
            await websocket.close(code=CloseCode.FORBIDDEN_ORIGIN, reason="origin not allowed")
            return
        await websocket.accept()
        connection = await self._join(websocket)
        if connection is None:
            return
        reason = "disconnected"
        try:
            reason = await self._read(connection)
        finally:
            await self._depart(connection, reason)

    async def _join(self, websocket: WebSocket) -> Connection | None:
        try:
            text = await asyncio.wait_for(websocket.receive_text(), JOIN_TIMEOUT_SECONDS)
        except TimeoutError:
            await websocket.close(code=CloseCode.JOIN_TIMEOUT, reason="send join first")
            return None
        except KeyError:  # a binary frame
            await websocket.close(code=CloseCode.UNAUTHORIZED, reason="send a join frame first")
            return None
        except (WebSocketDisconnect, RuntimeError):
            return None
        try:
            frame = JOIN_FRAME.validate_json(text)
            if frame.v != PROTOCOL_VERSION:
                raise Unauthenticated(
                    f"This node speaks protocol {PROTOCOL_VERSION}", code="unsupported_version"
                )
            info, meeting = await self._admit(frame.token)
        except (ValidationError, MeetingError) as exc:
            code, message = _describe(exc)
            await websocket.send_text(
                Error(code=code, message=message, in_reply_to="join").model_dump_json()
            )
            close = (
                CloseCode.NOT_HERE
                if code in ("wrong_node", "meeting_not_live")
                else CloseCode.UNAUTHORIZED
            )
            await websocket.close(code=close, reason=code)
            return None
        connection = Connection(websocket, info, meeting.id)
        self.ai.room_opened(meeting)
        replaced = await self.rooms.enter(connection)
        if replaced is not None:
            replaced.close(CloseCode.REPLACED, "joined from another connection")
        room = self.rooms.room(meeting.id)
        connection.send(
            Joined(
                me=info,
                participants=room.others(info.user_id),
                meeting=MeetingInfo(id=meeting.id, title=meeting.title, settings=meeting.settings),
                ice_servers=ice_servers_for(self.container.settings, info.user_id, time.time()),
                recording=self.recordings.state(meeting.id),
            )
        )
        if replaced is None:
            room.broadcast(ParticipantJoined(participant=info), skip=info.user_id)
        connection.media = MediaSession(
            room.media, info.user_id, connection.send, self._tracks_changer(connection)
        )
        room.media.enter(connection.media)
        if info.role in MANAGER_ROLES:
            try:
                await self._send_lobby(connection)
            except Exception:  # the room works without it; new requests still reach them
                logger.warning("lobby snapshot not sent", exc_info=True)
        return connection

    def _tracks_changer(
        self, connection: Connection
    ) -> Callable[[list[TrackInfo]], Awaitable[None]]:
        async def tracks_changed(tracks: list[TrackInfo]) -> None:
            connection.info.tracks = tracks
            await self.rooms.publish(connection)

        return tracks_changed

    async def _admit(self, token: str) -> tuple[ParticipantInfo, Meeting]:
        claims = self.container.tokens.read_join(token)
        if claims.node_id != self.node_id:
            raise Forbidden("This meeting's room is on another node", code="wrong_node")
        async with self.container.db.read_session() as session:
            meeting = await session.get(Meeting, claims.meeting_id)
            participant = await session.get(Participant, claims.participant_id)
            user = await session.get(User, claims.user_id)
        if meeting is None or meeting.status != MeetingStatus.LIVE:
            raise Forbidden("The meeting is not live", code="meeting_not_live")
        if (
            participant is None
            or participant.user_id != claims.user_id
            or participant.state != ParticipantState.JOINED
            or user is None
            or user.status != UserStatus.ACTIVE
        ):
            raise Unauthenticated("Join the meeting again", code="not_a_participant")
        # One connection per join: a copied token cannot open a second socket (and push the
        # real participant out); reconnecting means joining again through the API.
        ttl = self.container.tokens.join_ttl + 60
        if not await self.container.state.set_if_absent(f"join-token:{claims.token_id}", "1", ttl):
            raise Unauthenticated("This join token was used already", code="join_token_used")
        settings = meeting.settings or {}
        info = ParticipantInfo(
            participant_id=participant.id,
            user_id=user.id,
            display_name=user.display_name,
            role=participant.role,
            audio_muted=bool(settings.get("mute_on_join")) and participant.role != "host",
            joined_at=participant.joined_at or meeting.started_at or meeting.created_at,
        )
        return info, meeting

    async def _read(self, connection: Connection) -> str:
        """Handle the client's frames until the connection ends; returns how it ended: ``left``
        (the client closed it with 1000 or 1001), ``disconnected``, or the node's closing
        reason."""
        while True:
            try:
                message = await connection.receive()
            except (WebSocketDisconnect, RuntimeError):
                return connection.closing_reason or "disconnected"
            if message is None:  # dropped by the node: it did not read its frames
                return connection.closing_reason or TOO_SLOW
            if message["type"] == "websocket.disconnect":
                if connection.closing_reason is not None:
                    return connection.closing_reason
                return "left" if message.get("code") in GOODBYE_CODES else "disconnected"
            if not connection.budget.take():
                if self._refuse(connection):
                    return connection.closing_reason or TOO_MANY_FRAMES
                continue
            text = message.get("text")
            if text is None:
                connection.send(Error(code="invalid_frame", message="Frames are JSON text"))
                continue
            if len(text) > MAX_FRAME_BYTES:
                connection.close(CloseCode.MESSAGE_TOO_BIG, FRAME_TOO_BIG)
                return connection.closing_reason or FRAME_TOO_BIG
            await self._handle(connection, text)

    @staticmethod
    def _refuse(connection: Connection) -> bool:
        """A frame over the client's budget is not handled: the first of a run gets an error,
        a whole burst more closes the connection (True)."""
        refused = connection.budget.refused
        if refused == 1:
            connection.send(
                Error(
                    code="rate_limited",
                    message=f"Too many frames: at most {FRAME_RATE:g} a second "
                    f"(bursts of {FRAME_BURST}); frames are dropped until then",
                )
            )
        if refused <= FRAME_BURST:
            return False
        connection.close(CloseCode.TOO_MANY_FRAMES, TOO_MANY_FRAMES)
        return True

    async def _handle(self, connection: Connection, text: str) -> None:
        try:
            # pydantic's parser, unlike json.loads, refuses deep nesting with a ValueError
            # rather than a RecursionError.
            raw = pydantic_core.from_json(text)
        except ValueError:
            connection.send(Error(code="invalid_json", message="Frames are JSON objects"))
            return
        kind = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(kind, str) or len(kind) > MAX_TYPE_ECHO:
            kind = None  # only a plausible frame type is echoed in ``in_reply_to``
        try:
            frame = CLIENT_FRAME.validate_python(raw)
            await self._dispatch(connection, frame)
        except (ValidationError, MeetingError) as exc:
            code, message = _describe(exc)
            connection.send(Error(code=code, message=message, in_reply_to=kind))
        except Exception:
            logger.exception("signaling frame failed", extra={"frame_type": kind})
            connection.send(
                Error(
                    code="internal_error",
                    message="The node could not act on that",
                    in_reply_to=kind,
                )
            )

    async def _depart(self, connection: Connection, reason: str) -> None:
        try:
            room = self.rooms.rooms.get(connection.meeting_id)
            if room is not None and connection.media is not None:
                await room.media.leave(connection.media)
            was_current = await self.rooms.leave(connection)
            if connection.meeting_id not in self.rooms.rooms:
                self.ai.room_closed(connection.meeting_id)
                await self.container.state.delete(stats_key(connection.meeting_id))
            if not was_current:
                return  # replaced by a newer connection of the same person
            dropped = reason in DROPPED
            if dropped or reason == "left":  # nothing recorded the departure yet
                await self._mark_left(connection)  # first, so the API agrees with what others see
            shown: Literal["left", "removed", "disconnected"] = (
                "removed" if reason == "removed" else "disconnected" if dropped else "left"
            )
            room = self.rooms.rooms.get(connection.meeting_id)
            if room is not None:
                room.broadcast(ParticipantLeft(user_id=connection.user_id, reason=shown))
        finally:
            await connection.finish()

    async def _mark_left(self, connection: Connection) -> None:
        actor, stay = _actor(connection), connection.info.joined_at
        with contextlib.suppress(MeetingError):
            await self._attendance(lambda s: s.leave(actor, connection.meeting_id, stay=stay))

    # --- frames ----------------------------------------------------------------------------

    async def _dispatch(self, connection: Connection, frame: Any) -> None:
        room = self.rooms.room(connection.meeting_id)
        meeting_id = connection.meeting_id
        actor = _actor(connection)
        match frame:
            case Ping(id=ping_id):
                connection.send(Pong(id=ping_id))
            case SendChat(body=body):
                async with self.container.open_services() as services:
                    message, sender = await services.chat.post(
                        actor, meeting_id, NewMessage(body=body)
                    )
                self._broadcast_chat(room, message, sender)
            case SetMute(audio=audio, video=video):
                if audio is not None:
                    connection.info.audio_muted = audio
                if video is not None:
                    connection.info.video_muted = video
                await self._updated(connection)
            case RaiseHand(raised=raised):
                connection.info.hand_raised = raised
                await self._updated(connection)
            case MuteParticipant(user_id=target_id):
                async with self.container.db.read_session() as session:
                    await load_for_manager(self.container.unit_of_work(session), meeting_id, actor)
                target = self.rooms.connection(meeting_id, target_id)
                if target is None:
                    raise MeetingError(
                        "Nobody by that id is in the room", code="participant_not_found"
                    )
                target.send(MutedByHost(by=actor.user_id))
                target.info.audio_muted = True
                await self._updated(target)
            case RemoveParticipant(user_id=target_id):
                await self._attendance(lambda s: s.remove(actor, meeting_id, target_id))
            case ChangeRole(user_id=target_id, role=role):
                await self._attendance(
                    lambda s: s.change_role(
                        actor, meeting_id, target_id, RoleChange.model_validate({"role": role})
                    )
                )
            case AdmitFromLobby(user_id=target_id):
                await self._attendance(lambda s: s.decide(actor, meeting_id, target_id, admit=True))
            case DenyFromLobby(user_id=target_id):
                await self._attendance(
                    lambda s: s.decide(actor, meeting_id, target_id, admit=False)
                )
            case PublishOffer(sdp=sdp, tracks=tracks):
                await self._media(connection).publish_offer(
                    sdp, {track.mid: track.source for track in tracks}
                )
            case SubscribeAnswer(sdp=sdp):
                await self._media(connection).subscribe_answer(sdp)
            case IceCandidate(pc=which, candidate=candidate, sdp_mid=mid, sdp_mline_index=index):
                await self._media(connection).add_candidate(which, candidate, mid, index)
            case SetEmotionCues(enabled=enabled):
                self.ai.set_emotion_cues(meeting_id, connection.user_id, enabled)
            case Announce(text=text):
                async with self.container.db.read_session() as session:
                    await load_for_manager(self.container.unit_of_work(session), meeting_id, actor)
                await self.container.limiter.check("ai", str(actor.user_id))  # as REST AI calls
                await self.ai.announce(room, connection.user_id, connection.info.display_name, text)
            case StartRecording():
                async with self.container.open_services() as services:
                    await services.recordings.start(actor, meeting_id)
            case StopRecording():
                async with self.container.open_services() as services:
                    await services.recordings.stop(actor, meeting_id)
            case EndMeeting():
                async with self.container.open_services() as services:
                    await services.meetings.end(actor, meeting_id)

    @staticmethod
    def _media(connection: Connection) -> MediaSession:
        if connection.media is None or connection.media.closed:
            raise MeetingError("This connection has no media session", code="no_media")
        return connection.media

    async def _attendance(self, action: Callable[[AttendanceService], Awaitable[object]]) -> None:
        """Run one attendance change; its event then updates the live room (see ``_on_*``)."""
        async with self.container.open_services() as services:
            await action(services.attendance)

    async def _send_lobby(self, connection: Connection) -> None:
        """Who waits in the lobby now, for a host or co-host (a manager's join, a promotion);
        nothing when nobody waits."""
        async with self.container.open_services(read_only=True) as services:
            try:
                rows = await services.attendance.lobby(_actor(connection), connection.meeting_id)
            except MeetingError:  # no longer a manager by the time this ran
                return
        if not rows:
            return
        waiting = [
            LobbyEntry(
                user_id=user.id, display_name=user.display_name, requested_at=entry.requested_at
            )
            for entry, user in rows
        ]
        connection.send(Lobby(waiting=waiting))

    async def _updated(self, connection: Connection) -> None:
        await self.rooms.publish(connection)
        self.rooms.room(connection.meeting_id).broadcast(
            ParticipantUpdated(participant=connection.info)
        )

    def _broadcast_chat(self, room: Room, message: ChatMessageRow, sender: User) -> None:
        """Send a chat message to the room once, whichever way it reached this node first (the
        socket that posted it, or the event of a message posted through the API)."""
        if message.id in self._chat_sent:
            return
        self._chat_sent[message.id] = None
        while len(self._chat_sent) > RECENT_CHAT_IDS:
            del self._chat_sent[next(iter(self._chat_sent))]
        room.broadcast(_chat_frame(message, sender))

    # --- events from anywhere -----------------------------------------------------------------

    async def _on_chat_posted(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, ChatMessagePosted)
        room = self.rooms.rooms.get(data.meeting_id)
        if room is None or data.message_id in self._chat_sent:
            return
        async with self.container.db.read_session() as session:
            message = await session.get(ChatMessageRow, data.message_id)
            sender = await session.get(User, data.sender_id)
        if message is not None and sender is not None:
            self._broadcast_chat(room, message, sender)

    async def _on_removed(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, ParticipantRemoved)
        target = self.rooms.connection(data.meeting_id, data.user_id)
        if target is not None:
            target.send(Removed(by=data.actor_id))
            target.close(CloseCode.REMOVED, "removed")

    async def _on_left(self, event: Event) -> None:
        """Someone left through the API (``POST .../leave``): their socket closes, which takes
        their tracks away and tells the room, as a removal does."""
        data = parse_event_data(event)
        assert isinstance(data, ParticipantLeftEvent)
        target = self.rooms.connection(data.meeting_id, data.user_id)
        if target is None:
            return  # the usual case: the event of a socket that closed itself
        async with self.container.db.read_session() as session:
            meeting = await session.get(Meeting, data.meeting_id)
            participant = await session.get(Participant, target.info.participant_id)
        if meeting is None or meeting.status != MeetingStatus.LIVE:
            return  # the meeting ended: its own event closes every socket (4000)
        if participant is not None and participant.state == ParticipantState.JOINED:
            return  # joined again since: the event is older than this connection
        target.close(CloseCode.LEFT, LEFT_THROUGH_API)

    async def _on_role_changed(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, ParticipantRoleChanged)
        target = self.rooms.connection(data.meeting_id, data.user_id)
        if target is not None:
            was_manager = target.info.role in MANAGER_ROLES
            target.info.role = data.role
            await self._updated(target)
            if data.role in MANAGER_ROLES and not was_manager:
                await self._send_lobby(target)

    def _managers(self, meeting_id: uuid.UUID) -> list[Connection]:
        room = self.rooms.rooms.get(meeting_id)
        if room is None:
            return []
        return [c for c in room.connections.values() if c.info.role in MANAGER_ROLES]

    async def _on_waiting(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, ParticipantWaiting)
        managers = self._managers(data.meeting_id)
        if not managers:
            return  # nobody here can decide; whoever joins later gets the lobby on join
        async with self.container.db.read_session() as session:
            user = await session.get(User, data.user_id)
            entry = await session.scalar(
                select(LobbyRow).where(
                    LobbyRow.meeting_id == data.meeting_id, LobbyRow.user_id == data.user_id
                )
            )
        if user is None or entry is None:
            return
        request = LobbyRequest(
            user_id=user.id, display_name=user.display_name, requested_at=entry.requested_at
        )
        for connection in managers:
            connection.send(request)

    async def _on_lobby_decided(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, ParticipantAdmitted | ParticipantDenied)
        resolved = LobbyResolved(
            user_id=data.user_id,
            admitted=isinstance(data, ParticipantAdmitted),
            by=data.actor_id,
        )
        for connection in self._managers(data.meeting_id):
            connection.send(resolved)

    async def _on_meeting_over(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, MeetingEndedEvent | MeetingCancelled)
        room = self.rooms.rooms.get(data.meeting_id)
        if room is None:
            return
        room.broadcast(MeetingEnded(by=data.actor_id))
        for connection in list(room.connections.values()):
            connection.close(CloseCode.MEETING_ENDED, "meeting ended")

    async def _on_user_gone(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, UserBanned | UserDeleted)
        reason: Literal["banned", "deleted"] = (
            "banned" if isinstance(data, UserBanned) else "deleted"
        )
        for connection in self.rooms.connections_of(data.user_id):
            connection.send(Removed(by=data.actor_id, reason=reason))
            connection.close(CloseCode.REMOVED, "removed")


def _chat_frame(message: ChatMessageRow, sender: User) -> ChatMessage:
    return ChatMessage(
        id=message.id,
        sender=ChatSender(user_id=sender.id, display_name=sender.display_name),
        body=message.body,
        created_at=message.created_at,
    )


def _actor(connection: Connection) -> Actor:
    # The socket acts for the participant; it holds no login session of its own.
    return Actor(
        user_id=connection.user_id, role=UserRole.USER, session_id=connection.info.participant_id
    )


def _describe(exc: ValidationError | MeetingError) -> tuple[str, str]:
    if isinstance(exc, MeetingError):
        return exc.code, exc.detail
    errors = exc.errors()
    if not errors:
        return "invalid_frame", "The frame is not valid"
    first = errors[0]
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "unknown_type", "Unknown frame type"
    where = ".".join(str(part) for part in first["loc"]) or "frame"
    return "invalid_frame", f"{where}: {first['msg']}"


@router.websocket("/ws/signaling")
async def signaling(websocket: WebSocket) -> None:
    node: SignalingNode = websocket.app.state.signaling
    await node.serve(websocket)
