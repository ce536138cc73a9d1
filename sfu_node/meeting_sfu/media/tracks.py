"""Published tracks and the subscribers they forward to: the SFU's hot path and its RTCP.

A publisher's packet is rewritten once (payload type, no header extensions) and the same bytes go
to every subscriber: each subscriber's sender uses the publisher's SSRC, so sequence numbers
and timestamps pass through untouched and only SRTP differs per subscriber. NACKs are answered
from a cache of those bytes; keyframe requests go up to the publisher, throttled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from meeting_sfu.media import rtp
from meeting_sfu.media.traffic import Traffic
from meeting_shared.enums import TrackKind, TrackSource

logger = logging.getLogger(__name__)

Send = Callable[[bytes], None]  # raises ConnectionError once the subscriber is gone
SendRtcp = Callable[[bytes], Awaitable[None]]

CACHE_SIZE = 1024  # packets kept per video track for retransmission (~1.5 s at 1 Mbit/s)
KEYFRAME_INTERVAL = 0.5  # at most one keyframe request upstream per track per this many seconds
MIN_BITRATE = 150_000


class Output(Protocol):
    """What a track forwards to: a subscriber, or a tap that takes a copy (media.taps)."""

    def send_rtcp(self, data: bytes, /) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class Bitrates:
    """What the SFU asks publishers to stay under (REMB), by source."""

    camera: int = 1_500_000
    screen: int = 2_500_000


class PublishedTrack:
    """One incoming audio or video stream and the subscribers it is forwarded to."""

    def __init__(
        self,
        *,
        track_id: str,
        user_id: uuid.UUID,
        kind: TrackKind,
        source: TrackSource,
        ssrc: int,
        rtx_ssrc: int | None,
        payload_types: dict[int, int],
        rtx_payload_types: dict[int, int],
        clock_rate: int,
        audio_level_id: int | None,
        max_bitrate: int,
        upstream: SendRtcp,
        rtcp_ssrc: int,
        traffic: Traffic,
        on_audio_level: Callable[[uuid.UUID, int], None] | None = None,
    ) -> None:
        self.traffic = traffic
        self.track_id = track_id
        self.user_id = user_id
        self.kind: TrackKind = kind
        self.source: TrackSource = source
        self.ssrc = ssrc
        self.rtx_ssrc = rtx_ssrc
        self.payload_types = payload_types  # publisher's payload type -> subscribers'
        self.rtx_payload_types = rtx_payload_types  # publisher's RTX type -> subscribers' media
        self.audio_level_id = audio_level_id if kind == "audio" else None
        self.reception = rtp.ReceptionStats(clock_rate)
        self.outputs: dict[Output, Send] = {}
        self._sends: tuple[tuple[Output, Send], ...] = ()
        self._cache: list[bytes | None] | None = [None] * CACHE_SIZE if kind == "video" else None
        self._upstream = upstream
        self._rtcp_ssrc = rtcp_ssrc
        self._on_audio_level = on_audio_level
        self._last_keyframe_request = 0.0
        self._deferred_keyframe: asyncio.TimerHandle | None = None
        self._keyframe_task: asyncio.Task[None] | None = None
        self.max_bitrate = max_bitrate
        self.target_bitrate = max_bitrate
        self.bytes_in = 0
        self.packets_out = 0
        self.bytes_out = 0
        self.closed = False

    # --- the hot path ----------------------------------------------------------------------

    async def on_rtp(self, data: bytes, arrival_ms: int) -> None:
        header = rtp.parse_header(data)
        if header is None:
            return
        if header.ssrc == self.ssrc:
            payload_type = self.payload_types.get(header.payload_type)
            if payload_type is None:
                return
            self.reception.add(header.sequence, header.timestamp, arrival_ms)
            if self.audio_level_id is not None and self._on_audio_level is not None:
                level = rtp.audio_level(data, header, self.audio_level_id)
                if level is not None:
                    self._on_audio_level(self.user_id, level)
            packet = rtp.forwardable(data, header, payload_type)
        else:  # a retransmission we (or a subscriber) asked for, on the RTX stream
            payload_type = self.rtx_payload_types.get(header.payload_type)
            if payload_type is None:
                return
            unwrapped = rtp.unwrap_rtx(data, header, self.ssrc, payload_type)
            if unwrapped is None:
                return  # padding used to probe bandwidth
            packet = unwrapped
        self.bytes_in += len(data)
        self.traffic.packets_in += 1
        self.traffic.bytes_in += len(data)
        if self._cache is not None:
            self._cache[rtp.sequence_of(packet) % CACHE_SIZE] = packet
        for output, send in self._sends:
            try:
                send(packet)
            except Exception:  # one broken subscriber must not stop the others or the publisher
                self._drop(output)
        sent = len(self._sends)
        self.packets_out += sent
        self.bytes_out += sent * len(packet)
        self.traffic.packets_out += sent
        self.traffic.bytes_out += sent * len(packet)

    # --- subscribers ---------------------------------------------------------------------------

    @property
    def subscribers(self) -> int:
        """Participants receiving this track (taps for captions and cues are not counted)."""
        return sum(isinstance(output, SubscriberOutput) for output in self.outputs)

    def attach(self, output: Output, send: Send) -> None:
        self.outputs[output] = send
        self._sends = tuple(self.outputs.items())

    def detach(self, output: Output) -> None:
        if self.outputs.pop(output, None) is not None:
            self._sends = tuple(self.outputs.items())

    def _drop(self, output: Output) -> None:
        if not isinstance(sys.exception(), ConnectionError):  # closing is expected; others not
            logger.warning("forwarding to a subscriber failed", exc_info=True)
        self.detach(output)

    def cached(self, sequence: int) -> bytes | None:
        if self._cache is None:
            return None
        packet = self._cache[sequence % CACHE_SIZE]
        if packet is not None and rtp.sequence_of(packet) == sequence:
            return packet
        return None

    async def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (PLI to the media SSRC, never the RTX one)."""
        if self.kind != "video" or self.closed:
            return
        now = time.monotonic()
        wait = self._last_keyframe_request + KEYFRAME_INTERVAL - now
        if wait > 0:
            # Asked too soon after the last one: ask once more when the interval is over. The
            # keyframe the last request brings may already have gone by (a recorder starting
            # just after a subscriber joined would otherwise wait for the next natural one).
            if self._deferred_keyframe is None:
                loop = asyncio.get_running_loop()
                self._deferred_keyframe = loop.call_later(wait, self._request_deferred_keyframe)
            return
        self._last_keyframe_request = now
        await self._send_upstream(
            RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=self._rtcp_ssrc, media_ssrc=self.ssrc)
        )

    async def on_sender_report(self, packet: RtcpSrPacket) -> None:
        """Publisher's sender report: subscribers use it for lip sync, so pass it on."""
        data = bytes(RtcpSrPacket(ssrc=packet.ssrc, sender_info=packet.sender_info))
        for output in list(self.outputs):
            try:
                await output.send_rtcp(data)
            except Exception:
                self._drop(output)

    def on_subscriber_loss(self, fraction_lost: int) -> None:
        """Loss a subscriber reports steers what we ask the publisher to send (REMB)."""
        if fraction_lost > 25:  # more than 10 %
            self.target_bitrate = max(MIN_BITRATE, int(self.target_bitrate * 0.85))
        elif fraction_lost < 5:  # under 2 %
            self.target_bitrate = min(self.max_bitrate, int(self.target_bitrate * 1.05) + 10_000)

    async def send_receiver_report(self) -> None:
        """RTCP to the publisher once a second: what arrived, and the bitrate to stay under."""
        if self.reception.received == 0 or self.closed:
            return
        stats = self.reception
        report = RtcpReceiverInfo(
            ssrc=self.ssrc,
            fraction_lost=stats.fraction_lost(),
            packets_lost=stats.lost,
            highest_sequence=stats.highest_sequence & 0xFFFFFFFF,
            jitter=stats.jitter,
            lsr=0,
            dlsr=0,
        )
        await self._send_upstream(RtcpRrPacket(ssrc=self._rtcp_ssrc, reports=[report]))
        if self.kind == "video":
            remb = pack_remb_fci(self.target_bitrate, [self.ssrc])
            await self._send_upstream(
                RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=self._rtcp_ssrc, media_ssrc=0, fci=remb)
            )

    async def _send_upstream(self, packet: AnyRtcpPacket) -> None:
        with contextlib.suppress(ConnectionError):  # the publisher is gone; it is closing
            await self._upstream(bytes(packet))

    def _request_deferred_keyframe(self) -> None:
        self._deferred_keyframe = None
        if self._keyframe_task is None or self._keyframe_task.done():
            self._keyframe_task = asyncio.ensure_future(self.request_keyframe())

    def close(self) -> None:
        self.closed = True
        if self._deferred_keyframe is not None:
            self._deferred_keyframe.cancel()
        self.outputs.clear()
        self._sends = ()


class SubscriberOutput:
    """One subscriber's copy of one published track: its RTCP comes back here."""

    __slots__ = ("nacks_answered", "send", "send_rtcp", "subscriber", "track")

    def __init__(
        self, track: PublishedTrack, subscriber: uuid.UUID, send: Send, send_rtcp: SendRtcp
    ) -> None:
        self.track = track
        self.subscriber = subscriber
        self.send = send
        self.send_rtcp = send_rtcp
        self.nacks_answered = 0

    def start(self) -> None:
        self.track.attach(self, self.send)

    def stop(self) -> None:
        self.track.detach(self)

    async def on_rtcp(self, packet: AnyRtcpPacket) -> None:
        track = self.track
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            for sequence in packet.lost:
                cached = track.cached(sequence)
                if cached is None:
                    continue
                try:
                    self.send(cached)
                except ConnectionError:
                    return
                self.nacks_answered += 1
                track.traffic.retransmitted += 1
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            await track.request_keyframe()
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, _ = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            track.target_bitrate = max(MIN_BITRATE, min(track.target_bitrate, bitrate))
        elif isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            for report in packet.reports:
                if report.ssrc == track.ssrc:
                    track.on_subscriber_loss(report.fraction_lost)
