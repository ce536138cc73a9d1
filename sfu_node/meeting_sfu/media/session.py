"""Each participant's two peer connections with the SFU, and the room that wires them together.

A participant publishes on one connection (the client offers, the SFU answers) and receives on
another (the SFU offers, the client answers). Each side always offers on its own connection, so
renegotiations never collide: when someone starts a screen share the sharer sends a new
``publish_offer``, and everyone else gets a new ``subscribe_offer`` with one more m-line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError
from aiortc.rtp import AnyRtcpPacket, RtcpSrPacket
from aiortc.sdp import candidate_from_sdp
from pydantic import BaseModel

from meeting_sfu.media import webrtc
from meeting_sfu.media.speaker import ActiveSpeaker
from meeting_sfu.media.tracks import Bitrates, PublishedTrack, SubscriberOutput
from meeting_sfu.media.traffic import Traffic
from meeting_sfu.protocol import (
    ActiveSpeakerFrame,
    ErrorFrame,
    IncomingTrack,
    PublishAnswerFrame,
    SubscribeOfferFrame,
    TrackPublishedFrame,
    TrackUnpublishedFrame,
)
from meeting_shared.enums import TrackSource
from meeting_shared.errors import MeetingError
from meeting_shared.services.rooms import TrackInfo

logger = logging.getLogger(__name__)

ANSWER_TIMEOUT = 15.0  # seconds a client has to answer a subscribe offer
SPEAKER_TICK = 0.3
REPORT_EVERY = 3  # ticks between receiver reports to publishers (about a second)
MAX_PUBLISHED = 4  # microphone, camera, screen video and screen audio
# M-lines on a subscribing connection before idle ones carry other SSRCs: an answer with this
# many stays well under the 60 000 characters a subscribe_answer's SDP may have.
MAX_SUBSCRIBE_MLINES = 32
SOURCES_BY_KIND: dict[str, tuple[TrackSource, ...]] = {
    "audio": ("microphone", "screen"),
    "video": ("camera", "screen"),
}

# What aiortc raises for SDP it cannot use (it asserts on some malformed lines).
UNUSABLE_SDP = (
    ValueError,
    AttributeError,
    AssertionError,
    IndexError,
    KeyError,
    InvalidAccessError,
    InvalidStateError,
    OperationError,
)

Broadcast = Callable[[BaseModel, uuid.UUID | None], None]


@dataclass(frozen=True)
class MediaConfig:
    ice_servers: list[dict[str, object]] = field(default_factory=list)
    bitrates: Bitrates = field(default_factory=Bitrates)


class MediaRoom:
    """The media side of one room: who publishes what, and who receives it."""

    def __init__(
        self,
        meeting_id: uuid.UUID,
        config: MediaConfig,
        traffic: Traffic,
        broadcast: Broadcast,
        on_track: Callable[[PublishedTrack, bool], None] | None = None,
    ) -> None:
        self.meeting_id = meeting_id
        self._on_track = on_track  # published (True) or gone (False): the AI taps follow
        self.config = config
        self.traffic = traffic
        self.tracks: dict[str, PublishedTrack] = {}
        self.sessions: dict[uuid.UUID, MediaSession] = {}
        self.speaker = ActiveSpeaker()
        self._broadcast = broadcast
        self._ticker: asyncio.Task[None] | None = None

    def enter(self, session: MediaSession) -> None:
        self.sessions[session.user_id] = session
        for track in self.tracks.values():
            if track.user_id != session.user_id:
                session.subscribe(track)
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick(), name=f"media-room-{self.meeting_id}")

    async def leave(self, session: MediaSession) -> None:
        if self.sessions.get(session.user_id) is session:
            del self.sessions[session.user_id]
        await session.close()
        self.speaker.forget(session.user_id)
        if not self.sessions and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def publish(self, track: PublishedTrack) -> None:
        self.tracks[track.track_id] = track
        for session in self.sessions.values():
            if session.user_id != track.user_id:
                session.subscribe(track)
        info = TrackInfo(track_id=track.track_id, kind=track.kind, source=track.source)
        self._broadcast(TrackPublishedFrame(user_id=track.user_id, track=info), track.user_id)
        if self._on_track is not None:
            self._on_track(track, True)

    def unpublish(self, track: PublishedTrack) -> None:
        if self.tracks.pop(track.track_id, None) is None:
            return
        if self._on_track is not None:
            self._on_track(track, False)
        track.close()
        for session in self.sessions.values():
            session.unsubscribe(track.track_id)
        self._broadcast(
            TrackUnpublishedFrame(user_id=track.user_id, track_id=track.track_id), track.user_id
        )

    def audio_level(self, user_id: uuid.UUID, level: int) -> None:
        self.speaker.add(user_id, level)

    async def _tick(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(SPEAKER_TICK)
            ticks += 1
            changed, speaker = self.speaker.tick()
            if changed:
                self._broadcast(ActiveSpeakerFrame(user_id=speaker), None)
            if ticks % REPORT_EVERY == 0:
                for track in list(self.tracks.values()):
                    await track.send_receiver_report()

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            await self.leave(session)


@dataclass
class _Subscription:
    track: PublishedTrack
    transceiver: RTCRtpTransceiver | None = None
    output: SubscriberOutput | None = None


class MediaSession:
    """One participant's media: a publishing and a subscribing peer connection."""

    def __init__(
        self,
        room: MediaRoom,
        user_id: uuid.UUID,
        send: Callable[[BaseModel], None],
        on_tracks_changed: Callable[[list[TrackInfo]], Awaitable[None]],
    ) -> None:
        self.room = room
        self.user_id = user_id
        self._send = send
        self._on_tracks_changed = on_tracks_changed
        self.publisher: RTCPeerConnection | None = None
        self.subscriber: RTCPeerConnection | None = None
        self._tap: webrtc.RtpTap | None = None
        self.published: dict[str, PublishedTrack] = {}  # by mid of the publishing connection
        self.subscriptions: dict[str, _Subscription] = {}  # by track id
        self._idle: list[RTCRtpTransceiver] = []  # negotiated inactive, oldest first
        self._retiring: list[RTCRtpTransceiver] = []  # inactive from the next negotiation on
        self._dirty = False
        self._negotiation: asyncio.Task[None] | None = None
        self._answer: asyncio.Future[None] | None = None
        self.closed = False

    # --- publishing --------------------------------------------------------------------------

    async def publish_offer(self, sdp: str, sources: dict[str, TrackSource]) -> None:
        if self.publisher is None:
            self.publisher = self._peer("publish")
        pc = self.publisher
        try:
            webrtc.check_bundled(sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except UNUSABLE_SDP as exc:
            raise MeetingError(f"The offer was not usable: {exc}", code="invalid_sdp") from exc
        webrtc.adopt(pc)
        if self._tap is None:
            self._tap = webrtc.RtpTap(webrtc.dtls_transport(pc))
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        local = pc.localDescription.sdp
        self._send(PublishAnswerFrame(sdp=local))
        streams, stopped = webrtc.incoming_streams(sdp, local)
        for mid in stopped & self.published.keys():
            self._unpublish(mid)
        for stream in streams:
            current = self.published.get(stream.mid)
            if current is not None and current.ssrc == stream.ssrc:
                continue
            if current is not None:
                self._unpublish(stream.mid)
            self._publish(pc, stream, sources.get(stream.mid))
        await self._on_tracks_changed(self.track_infos())

    def _publish(
        self, pc: RTCPeerConnection, stream: webrtc.OfferedStream, source: TrackSource | None
    ) -> None:
        assert self._tap is not None
        allowed = SOURCES_BY_KIND[stream.kind]
        if source is None:
            source = allowed[0]
        if source not in allowed:
            raise MeetingError(
                f"A {stream.kind} track cannot be a {source}", code="invalid_track_source"
            )
        if len(self.published) >= MAX_PUBLISHED:
            raise MeetingError("Too many published tracks", code="too_many_tracks")
        if not stream.payload_types:
            raise MeetingError("No codec the SFU can forward was negotiated", code="no_codec")
        transceiver = next(t for t in pc.getTransceivers() if t.mid == stream.mid)
        receiver = webrtc.receiver_of(transceiver)
        bitrates = self.room.config.bitrates
        track = PublishedTrack(
            track_id=f"{self.user_id.hex[:8]}-{stream.mid}-{stream.ssrc:08x}",
            user_id=self.user_id,
            kind="audio" if stream.kind == "audio" else "video",
            source=source,
            ssrc=stream.ssrc,
            rtx_ssrc=stream.rtx_ssrc,
            payload_types=stream.payload_types,
            rtx_payload_types=stream.rtx_payload_types,
            clock_rate=stream.clock_rate,
            audio_level_id=stream.audio_level_id,
            max_bitrate=bitrates.screen if source == "screen" else bitrates.camera,
            upstream=self._tap.send_rtcp,
            rtcp_ssrc=receiver.rtcp_ssrc,
            traffic=self.room.traffic,
            on_audio_level=self.room.audio_level,
        )
        self._tap.handlers[stream.ssrc] = track.on_rtp
        if stream.rtx_ssrc is not None:
            self._tap.handlers[stream.rtx_ssrc] = track.on_rtp
        receiver.on_rtcp = _sender_reports_to(track)
        self.published[stream.mid] = track
        self.room.publish(track)

    def _unpublish(self, mid: str) -> None:
        track = self.published.pop(mid)
        if self._tap is not None:
            self._tap.handlers.pop(track.ssrc, None)
            if track.rtx_ssrc is not None:
                self._tap.handlers.pop(track.rtx_ssrc, None)
        self.room.unpublish(track)

    def track_infos(self) -> list[TrackInfo]:
        return [
            TrackInfo(track_id=t.track_id, kind=t.kind, source=t.source)
            for t in self.published.values()
        ]

    # --- subscribing -------------------------------------------------------------------------

    def subscribe(self, track: PublishedTrack) -> None:
        if self.closed or track.track_id in self.subscriptions:
            return
        self.subscriptions[track.track_id] = _Subscription(track)
        self._renegotiate()

    def unsubscribe(self, track_id: str) -> None:
        subscription = self.subscriptions.pop(track_id, None)
        if subscription is None:
            return
        if subscription.output is not None:
            subscription.output.stop()
        if subscription.transceiver is not None:
            webrtc.sender_of(subscription.transceiver).idle()
            subscription.transceiver.direction = "inactive"
            self._retiring.append(subscription.transceiver)
        self._renegotiate()

    def _renegotiate(self) -> None:
        self._dirty = True
        if self.closed or (self._negotiation is not None and not self._negotiation.done()):
            return
        self._negotiation = asyncio.create_task(
            self._negotiate(), name=f"subscribe-negotiation-{self.user_id}"
        )

    async def _negotiate(self) -> None:
        try:
            while self._dirty and not self.closed:
                self._dirty = False
                await self._offer_once()
        except Exception:
            logger.exception("subscribe negotiation failed", extra={"user_id": str(self.user_id)})
            self._send_error("negotiation_failed", "The SFU could not renegotiate; rejoin")

    async def _offer_once(self) -> None:
        if self.subscriber is None:
            self.subscriber = self._peer("subscribe")
        pc = self.subscriber
        for subscription in self.subscriptions.values():
            if subscription.transceiver is None:
                self._assign(pc, subscription)
        if not pc.getTransceivers():
            return
        retiring, self._retiring = self._retiring, []
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        if self.closed:
            return
        tracks = [
            IncomingTrack(
                mid=s.transceiver.mid or "",
                track_id=s.track.track_id,
                user_id=s.track.user_id,
                kind=s.track.kind,
                source=s.track.source,
            )
            for s in self.subscriptions.values()
            if s.transceiver is not None
        ]
        self._answer = asyncio.get_running_loop().create_future()
        self._send(SubscribeOfferFrame(sdp=pc.localDescription.sdp, tracks=tracks))
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):  # not wait_for: it can swallow a cancel
                await asyncio.shield(self._answer)
        except TimeoutError:
            self._send_error("answer_timeout", "No answer to the subscribe offer; rejoin")
            self.closed = True
            return
        self._idle.extend(retiring)

    def _assign(self, pc: RTCPeerConnection, subscription: _Subscription) -> None:
        track = subscription.track
        transceiver = self._reusable(pc, track)
        if transceiver is not None:
            self._idle.remove(transceiver)
        else:
            transceiver = pc.addTransceiver(track.kind, direction="sendonly")
            webrtc.adopt(pc)
            transceiver.setCodecPreferences(webrtc.forwarding_codecs(track.kind))
        transceiver.direction = "sendonly"
        sender = webrtc.sender_of(transceiver)
        sender.carry(track.ssrc, track.track_id, str(track.user_id))
        output = SubscriberOutput(track, self.user_id, sender.send_now, sender.send_rtp)
        sender.on_rtcp = output.on_rtcp
        sender.on_started = _start_output(output)
        subscription.transceiver = transceiver
        subscription.output = output

    def _reusable(self, pc: RTCPeerConnection, track: PublishedTrack) -> RTCRtpTransceiver | None:
        """An idle m-line to carry ``track``, or None for a new one.

        Clients may bind a receiver to the SSRCs it was first offered (aiortc routes by them, and
        by payload type, which every video shares), so another SSRC on an m-line they know could
        go nowhere: an idle m-line is taken again for the SSRC it carried before, and for another
        only once the connection has ``MAX_SUBSCRIBE_MLINES``, which bounds the SDP."""
        idle = [t for t in self._idle if t.kind == track.kind]
        same = next((t for t in idle if webrtc.sender_of(t).ssrc == track.ssrc), None)
        if same is not None or len(pc.getTransceivers()) < MAX_SUBSCRIBE_MLINES:
            return same
        return idle[0] if idle else None

    async def subscribe_answer(self, sdp: str) -> None:
        if self.subscriber is None or self._answer is None or self._answer.done():
            raise MeetingError("No subscribe offer is waiting for an answer", code="no_offer")
        try:
            webrtc.check_bundled(sdp)
            await self.subscriber.setRemoteDescription(
                RTCSessionDescription(sdp=sdp, type="answer")
            )
        except UNUSABLE_SDP as exc:
            raise MeetingError(f"The answer was not usable: {exc}", code="invalid_sdp") from exc
        self._answer.set_result(None)

    async def add_candidate(
        self, which: str, candidate: str | None, sdp_mid: str | None, mline: int | None
    ) -> None:
        pc = self.publisher if which == "publish" else self.subscriber
        if pc is None:
            raise MeetingError(f"No {which} connection yet", code="no_connection")
        if not candidate:
            await pc.addIceCandidate(None)
            return
        try:
            parsed = candidate_from_sdp(candidate.removeprefix("candidate:"))
        except (ValueError, IndexError, AssertionError) as exc:  # aiortc asserts on the format
            raise MeetingError("The ICE candidate is not valid", code="invalid_candidate") from exc
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = mline if mline is not None else (0 if sdp_mid is None else None)
        await pc.addIceCandidate(parsed)

    # --- lifetime ----------------------------------------------------------------------------

    def _peer(self, which: str) -> RTCPeerConnection:
        pc = webrtc.peer_connection(self.room.config.ice_servers)

        @pc.on("connectionstatechange")
        def _state_changed() -> None:
            if pc.connectionState == "failed" and not self.closed:
                self._send_error(
                    "media_connection_failed", f"The {which} connection failed; rejoin"
                )

        return pc

    def _send_error(self, code: str, message: str) -> None:
        self._send(ErrorFrame(code=code, message=message))

    async def close(self) -> None:
        if self.closed and self.publisher is None and self.subscriber is None:
            return
        self.closed = True
        for subscription in self.subscriptions.values():
            if subscription.output is not None:
                subscription.output.stop()
        self.subscriptions.clear()
        for mid in list(self.published):
            self._unpublish(mid)
        if self._negotiation is not None:
            self._negotiation.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._negotiation
        for pc in (self.publisher, self.subscriber):
            if pc is not None:
                with contextlib.suppress(Exception):
                    await pc.close()
        self.publisher = self.subscriber = None


def _sender_reports_to(track: PublishedTrack) -> Callable[[AnyRtcpPacket], Awaitable[None]]:
    async def on_rtcp(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket) and packet.ssrc == track.ssrc:
            await track.on_sender_report(packet)

    return on_rtcp


def _start_output(output: SubscriberOutput) -> Callable[[], Awaitable[None]]:
    async def started() -> None:
        output.start()
        await output.track.request_keyframe()  # so the new subscriber can decode at once

    return started
