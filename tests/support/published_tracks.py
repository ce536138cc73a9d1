"""Publishing helpers the media tests share: a meeting whose host publishes and whose guest
subscribes through the live server's SFU, and a ``PublishedTrack`` fed RTP straight from a test
(no peer connection) to reach loss, reordering and pauses deterministically."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import numpy.typing as npt
from aiortc.codecs import CODECS
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPacket, RtcpPsfbPacket
from skimage import data

from meeting_sfu.media.tracks import PublishedTrack
from meeting_sfu.media.traffic import Traffic
from meeting_sfu.signaling.node import SignalingNode
from meeting_shared.enums import TrackKind
from tests.support.api import Api, UserSession
from tests.support.media_client import MediaPeer


class PublishingMeeting:
    """A meeting whose host publishes and whose guest subscribes."""

    def __init__(self, api: Api, meeting_id: str, host: UserSession) -> None:
        self.api = api
        self.id = meeting_id
        self.host = host
        self.peers: list[MediaPeer] = []

    async def join(self, user: UserSession) -> MediaPeer:
        peer = await MediaPeer.join(self.api, user, self.id)
        self.peers.append(peer)
        return peer

    async def guest(self) -> MediaPeer:
        user = await self.api.user("listener")
        invited = await self.host.client.post(
            f"/api/v1/meetings/{self.id}/invites", json={"user_id": str(user.id)}
        )
        assert invited.status_code == 201, invited.text
        return await self.join(user)

    async def published(self, source: str) -> PublishedTrack:
        """The host's track of ``source`` as the SFU in the live server holds it."""
        node: SignalingNode = self.api.server.app.state.signaling
        async with asyncio.timeout(10):
            while True:
                room = node.rooms.rooms.get(uuid.UUID(self.id))
                for track in room.media.tracks.values() if room else ():
                    if track.user_id == self.host.id and track.source == source:
                        return track
                await asyncio.sleep(0.05)


def astronaut() -> npt.NDArray[np.uint8]:
    """A photograph (512x512 RGB, scikit-image's sample data): a face, colours, detail."""
    return np.asarray(data.astronaut(), dtype=np.uint8)  # type: ignore[no-untyped-call]


PUBLISHER_OPUS = 111  # the publisher's payload types; the track maps them to aiortc's
PUBLISHER_VIDEO = 120


class Upstream:
    """What the track sends to the publisher (RTCP): keyframe requests are counted."""

    def __init__(self) -> None:
        self.keyframe_requests = 0

    async def __call__(self, data: bytes) -> None:
        for packet in RtcpPacket.parse(data):
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
                self.keyframe_requests += 1


def published_track(kind: TrackKind, codec: str, upstream: Upstream) -> PublishedTrack:
    subscriber_type = next(c.payloadType for c in CODECS[kind] if c.mimeType == codec)
    assert subscriber_type is not None
    publisher_type = PUBLISHER_OPUS if kind == "audio" else PUBLISHER_VIDEO
    return PublishedTrack(
        track_id=f"test-{kind}",
        user_id=uuid.uuid4(),
        kind=kind,
        source="microphone" if kind == "audio" else "camera",
        ssrc=0x1234,
        rtx_ssrc=None,
        payload_types={publisher_type: subscriber_type},
        rtx_payload_types={},
        clock_rate=48_000 if kind == "audio" else 90_000,
        audio_level_id=None,
        max_bitrate=1_000_000,
        upstream=upstream,
        rtcp_ssrc=1,
        traffic=Traffic(),
    )
