"""Leaving through the REST API reaches the live room: the socket closes with 4003 and the
person's tracks go at once; the others see ``participant_left``."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from meeting_sfu.protocol import CloseCode
from tests.api.signaling_client import Peer, connect_peer, invite, join_rest
from tests.support.api import Api
from tests.support.media_client import Meeting, PatternTrack, ToneTrack

pytestmark = pytest.mark.integration


async def test_leaving_through_the_api_closes_the_socket_and_takes_the_tracks(api: Api) -> None:
    host = await api.user("host")
    meeting = Meeting(api, await api.meeting(host), host)
    guest = await meeting.guest("leaver")
    try:
        alice, bob = await meeting.join(host), await meeting.join(guest)
        await bob.publish((ToneTrack(), "microphone"), (PatternTrack(), "camera"))
        assert await alice.wait_for_frames(guest, "camera", 5) >= 5
        published = {
            frame["track"]["track_id"]
            for frame in [await alice.next("track_published") for _ in range(2)]
        }

        left = await guest.client.post(f"/api/v1/meetings/{meeting.id}/leave")
        assert left.status_code == 204, left.text
        await bob.wait_closed()
        assert bob.socket.close_code == CloseCode.LEFT
        gone = {(await alice.next("track_unpublished"))["track_id"] for _ in range(2)}
        assert gone == published
        departed = await alice.next("participant_left")
        assert (departed["user_id"], departed["reason"]) == (str(guest.id), "left")
        room = (await host.client.get(f"/api/v1/meetings/{meeting.id}/room")).json()
        assert [p["user_id"] for p in room["participants"]] == [str(host.id)]
        people = (await host.client.get(f"/api/v1/meetings/{meeting.id}/participants")).json()
        assert {p["user_id"]: p["state"] for p in people}[str(guest.id)] == "left"
    finally:
        for peer in meeting.peers:
            await peer.close()


async def test_an_old_leave_does_not_close_a_newer_connection(api: Api) -> None:
    """Leaving, then joining again before the node heard of the leave: the new socket stays."""
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host)
    await invite(host, meeting["id"], guest)
    host_peer, _ = await connect_peer(api, host, meeting["id"])
    base = f"/api/v1/meetings/{meeting['id']}"
    await join_rest(guest, meeting["id"])
    left = await guest.client.post(f"{base}/leave")  # not connected: nothing to close
    assert left.status_code == 204, left.text
    guest_peer, _ = await connect_peer(api, guest, meeting["id"])  # joins again at once
    await asyncio.sleep(1.0)  # the leave's event has reached the node by now
    await guest_peer.send(type="ping", id="still-in")
    assert (await guest_peer.next("pong"))["id"] == "still-in"
    second = await guest.client.post(f"{base}/leave")
    assert second.status_code == 204, second.text
    assert await guest_peer.closed_with() == CloseCode.LEFT
    assert (await host_peer.next("participant_left"))["user_id"] == str(guest.id)
    await host_peer.socket.close()


async def test_an_old_socket_that_ends_after_joining_again_leaves_the_new_stay(api: Api) -> None:
    """A client reconnecting fast joins again through the API while its old socket is still
    open, and that socket ends before the new one connects: the node must not mark the new
    stay left (the new socket would then be refused as ``not_a_participant``)."""
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host)
    await invite(host, meeting["id"], guest)
    host_peer, _ = await connect_peer(api, host, meeting["id"])
    old_peer, _ = await connect_peer(api, guest, meeting["id"])
    ticket = await join_rest(guest, meeting["id"])  # the new stay begins
    await old_peer.socket.close()
    departed = await host_peer.next("participant_left")  # the old socket's end was handled
    assert departed["user_id"] == str(guest.id)

    socket = await connect(ticket["signaling_url"], origin=api.server.url)  # type: ignore[arg-type]
    new_peer = Peer(socket, guest)
    await new_peer.send(type="join", v=1, token=ticket["join_token"])
    assert (await new_peer.next())["type"] == "joined"
    people = (await host.client.get(f"/api/v1/meetings/{meeting['id']}/participants")).json()
    assert {p["user_id"]: p["state"] for p in people}[str(guest.id)] == "joined"
    for peer in (new_peer, host_peer):
        await peer.socket.close()
