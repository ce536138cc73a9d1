"""The SFU forwards real media between aiortc participants over real ICE/DTLS/SRTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_PLI, RTCP_RTPFB_NACK, RtcpPsfbPacket, RtcpRtpfbPacket

from meeting_sfu.media import session
from tests.support.api import Api
from tests.support.media_client import MediaPeer, Meeting, PatternTrack, ToneTrack
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def meeting(api: Api) -> AsyncIterator[Meeting]:
    host = await api.user("host")
    created = Meeting(api, await api.meeting(host), host)
    yield created
    for peer in created.peers:
        await peer.close()


async def _camera_and_mic(peer: MediaPeer, *, loud: bool = False) -> None:
    await peer.publish((ToneTrack(loud=loud), "microphone"), (PatternTrack(), "camera"))


async def test_two_participants_see_and_hear_each_other(meeting: Meeting) -> None:
    guest = await meeting.guest("guest")
    alice, bob = await meeting.join(meeting.host), await meeting.join(guest)
    await _camera_and_mic(alice)
    await _camera_and_mic(bob)
    assert await bob.wait_for_frames(meeting.host, "camera", 20) >= 20
    assert await alice.wait_for_frames(guest, "camera", 20) >= 20
    assert await alice.wait_for_frames(guest, "microphone", 20) >= 20
    assert await bob.wait_for_frames(meeting.host, "microphone", 20) >= 20


async def test_late_joiner_gets_tracks_and_departure_unpublishes(meeting: Meeting) -> None:
    guest = await meeting.guest("late")
    alice = await meeting.join(meeting.host)
    await _camera_and_mic(alice)
    bob = await meeting.join(guest)
    published = [p for p in bob.snapshot["participants"] if p["user_id"] == str(meeting.host.id)]
    assert {t["source"] for t in published[0]["tracks"]} == {"microphone", "camera"}
    assert await bob.wait_for_frames(meeting.host, "camera", 10) >= 10

    await alice.close()
    gone = {(await bob.next("track_unpublished"))["track_id"] for _ in range(2)}
    assert gone == {t["track_id"] for t in published[0]["tracks"]}
    offer = await bob.next("subscribe_offer")
    assert offer["tracks"] == []  # both m-lines idle now


async def test_a_rejoining_publisher_is_decoded_by_a_subscriber_that_routes_by_ssrc(
    meeting: Meeting,
) -> None:
    # aiortc binds the SSRCs a receiver is offered when it first starts and routes by them
    # (then by payload type, which two videos share): a rejoiner's new SSRCs must come on
    # m-lines of their own, not on the idle ones their old tracks left.
    leaver, other = await meeting.guest("rejoiner"), await meeting.guest("stayer")
    alice = await meeting.join(meeting.host)
    carol = await meeting.join(other)
    await _camera_and_mic(carol)
    bob = await meeting.join(leaver)
    await _camera_and_mic(bob)
    assert await alice.wait_for_frames(leaver, "camera", 5) >= 5
    assert await alice.wait_for_frames(leaver, "microphone", 5) >= 5

    await bob.close()
    for _ in range(2):
        await alice.next("track_unpublished")
    await alice.next("subscribe_offer", lambda f: len(f["tracks"]) == 2)  # only carol's left
    await alice.next("participant_left")  # the node has marked them left: they may join again
    bob = await meeting.join(leaver)
    await _camera_and_mic(bob)
    await alice.next(
        "subscribe_offer", lambda f: sum(t["user_id"] == str(leaver.id) for t in f["tracks"]) == 2
    )
    camera, microphone = (alice.frames[(str(leaver.id), s)] for s in ("camera", "microphone"))
    assert await alice.wait_for_frames(leaver, "camera", camera + 10) >= camera + 10
    assert await alice.wait_for_frames(leaver, "microphone", microphone + 10) >= microphone + 10
    before = alice.frames[(str(other.id), "camera")]
    assert await alice.wait_for_frames(other, "camera", before + 5) >= before + 5


async def test_idle_m_lines_carry_new_tracks_once_a_connection_has_enough(
    meeting: Meeting, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "MAX_SUBSCRIBE_MLINES", 2)  # the SDP stays bounded
    leaver = await meeting.guest("often")
    alice, bob = await meeting.join(meeting.host), await meeting.join(leaver)
    await _camera_and_mic(bob)
    first = await alice.next("subscribe_offer", lambda f: len(f["tracks"]) == 2)
    await bob.close()
    await alice.next("participant_left")
    bob = await meeting.join(leaver)
    await _camera_and_mic(bob)
    again = await alice.next("subscribe_offer", lambda f: len(f["tracks"]) == 2)
    assert {t["mid"] for t in again["tracks"]} == {t["mid"] for t in first["tracks"]}
    assert again["sdp"].count("m=") == 2
    assert {t["track_id"] for t in again["tracks"]}.isdisjoint(
        t["track_id"] for t in first["tracks"]
    )


async def test_screen_share_starts_and_stops(meeting: Meeting) -> None:
    guest = await meeting.guest("sharer")
    alice, bob = await meeting.join(meeting.host), await meeting.join(guest)
    await _camera_and_mic(bob)
    assert await alice.wait_for_frames(guest, "camera", 5) >= 5

    await bob.publish((PatternTrack(640, 360), "screen"))
    shared = await alice.next("track_published", lambda f: f["track"]["source"] == "screen")
    assert shared["track"]["source"] == "screen" and shared["user_id"] == str(guest.id)
    assert await alice.wait_for_frames(guest, "screen", 10) >= 10
    screen_mid = next(m for m, t in alice.incoming.items() if t["source"] == "screen")

    assert bob.publisher is not None
    screen = next(t for t in bob.publisher.getTransceivers() if t.mid == "2")
    screen.direction = "inactive"
    await bob.renegotiate()
    stopped = await alice.next("track_unpublished")
    assert stopped["track_id"] == shared["track"]["track_id"]
    before = alice.frames[(str(guest.id), "camera")]
    assert await alice.wait_for_frames(guest, "camera", before + 10) > before  # camera goes on

    # Sharing again on the same transceiver sends the same SSRC: it comes back on its m-line.
    await alice.next("subscribe_offer", lambda f: all(t["source"] != "screen" for t in f["tracks"]))
    screen.direction = "sendonly"
    await bob.renegotiate()
    offer = await alice.next("subscribe_offer", lambda f: len(f["tracks"]) == 3)
    assert next(t["mid"] for t in offer["tracks"] if t["source"] == "screen") == screen_mid
    before = alice.frames[(str(guest.id), "screen")]
    assert await alice.wait_for_frames(guest, "screen", before + 10) >= before + 10


async def test_removed_participant_loses_media_at_once(meeting: Meeting) -> None:
    guest = await meeting.guest("removed")
    alice, bob = await meeting.join(meeting.host), await meeting.join(guest)
    await _camera_and_mic(alice)
    await _camera_and_mic(bob)
    assert await bob.wait_for_frames(meeting.host, "camera", 5) >= 5

    removed = await meeting.host.client.delete(
        f"/api/v1/meetings/{meeting.id}/participants/{guest.id}"
    )
    assert removed.status_code == 204
    await bob.next("removed", seconds=2.0)
    await asyncio.sleep(0.3)
    frozen = bob.frames[(str(meeting.host.id), "camera")]
    await asyncio.sleep(1.0)
    assert bob.frames[(str(meeting.host.id), "camera")] == frozen
    assert (await alice.next("participant_left"))["reason"] == "removed"


async def test_active_speaker_follows_the_loud_voice(meeting: Meeting) -> None:
    guest = await meeting.guest("speaker")
    alice, bob = await meeting.join(meeting.host), await meeting.join(guest)
    await _camera_and_mic(alice, loud=False)
    await _camera_and_mic(bob, loud=True)
    speaking = await alice.next("active_speaker")
    assert speaking["user_id"] == str(guest.id)


async def test_keyframe_requests_reach_the_publisher(
    meeting: Meeting, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests: list[int] = []
    original = RTCRtpSender._send_keyframe

    def counted(sender: RTCRtpSender) -> None:
        requests.append(sender._ssrc)
        original(sender)

    monkeypatch.setattr(RTCRtpSender, "_send_keyframe", counted)
    guest = await meeting.guest("viewer")
    alice, bob = await meeting.join(meeting.host), await meeting.join(guest)
    await _camera_and_mic(alice)
    assert await bob.wait_for_frames(meeting.host, "camera", 5) >= 5
    assert requests, "a new subscriber triggers a keyframe request"

    await asyncio.sleep(0.6)  # past the SFU's keyframe throttle
    before = len(requests)
    ssrc = bob.incoming_ssrc(str(meeting.host.id), "camera")
    await bob.send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=ssrc))
    await eventually(lambda: len(requests) > before, seconds=3)


async def test_nacks_are_answered_from_the_cache(meeting: Meeting, api: Api) -> None:
    guest = await meeting.guest("lossy")
    alice, bob = await meeting.join(meeting.host), await meeting.join(guest)
    await _camera_and_mic(alice)
    assert await bob.wait_for_frames(meeting.host, "camera", 10) >= 10
    ssrc = bob.incoming_ssrc(str(meeting.host.id), "camera")
    recent = bob.last_sequence(ssrc)
    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=ssrc)
    nack.lost = sorted((recent - offset) % 65536 for offset in range(1, 6))
    await bob.send_rtcp(nack)
    admin = await api.admin()

    async def retransmitted() -> bool:
        nodes = (await admin.client.get("/api/v1/admin/nodes")).json()
        return int(nodes[0]["stats"]["retransmitted_packets"]) >= 5

    await eventually(retransmitted, seconds=12)  # the node reports at its next heartbeat


async def test_room_and_node_stats_report_forwarding(meeting: Meeting, api: Api) -> None:
    guest = await meeting.guest("measured")
    alice, bob = await meeting.join(meeting.host), await meeting.join(guest)
    await _camera_and_mic(alice)
    await _camera_and_mic(bob)
    assert await bob.wait_for_frames(meeting.host, "camera", 10) >= 10

    async with asyncio.timeout(12):
        while True:
            response = await meeting.host.client.get(f"/api/v1/meetings/{meeting.id}/room/stats")
            if response.status_code == 200 and len(response.json()["tracks"]) == 4:
                stats = response.json()
                if all(t["packets_received"] > 0 for t in stats["tracks"]):
                    break
            await asyncio.sleep(0.5)
    assert stats["participants"] == 2
    assert all(t["subscribers"] == 1 for t in stats["tracks"])
    video = [t for t in stats["tracks"] if t["kind"] == "video"]
    assert all(t["target_bitrate"] > 0 for t in video)

    nodes = (await (await api.admin()).client.get("/api/v1/admin/nodes")).json()
    node = nodes[0]["stats"]
    assert node["forwarded_streams"] >= 4 and node["published_tracks"] >= 4
    assert node["packets_out_per_second"] > 0 and node["cpu_percent"] > 0


async def test_bad_media_frames_get_errors_and_the_room_keeps_going(meeting: Meeting) -> None:
    guest = await meeting.guest("clumsy")
    alice, bob = await meeting.join(meeting.host), await meeting.join(guest)
    await _camera_and_mic(alice)
    await bob.send(type="publish_offer", sdp="v=0 this is not sdp at all", tracks=[])
    assert (await bob.next("error"))["code"] == "invalid_sdp"
    await bob.send(type="subscribe_answer", sdp="v=0\r\nnot an answer to anything")
    assert (await bob.next("error"))["code"] in ("no_offer", "invalid_sdp")
    await bob.send(type="candidate", pc="publish", candidate="candidate:garbage")
    assert (await bob.next("error"))["code"] in ("no_connection", "invalid_candidate")
    assert await bob.wait_for_frames(meeting.host, "camera", 10) >= 10


async def test_h264_publishers_are_forwarded_as_h264(meeting: Meeting) -> None:
    guest = await meeting.guest("safari")
    alice, bob = await meeting.join(meeting.host), await meeting.join(guest)
    await bob.publish((PatternTrack(), "camera"), video_codec="video/H264")
    assert bob.publisher is not None
    sent = bob.publisher.getTransceivers()[0]._codecs
    assert {c.mimeType for c in sent} == {"video/H264"}  # nothing else is offered or sent
    # Decoding proves the SFU mapped the publisher's H.264 payload type to the subscriber's.
    assert await alice.wait_for_frames(guest, "camera", 10) >= 10
