"""The signaling WebSocket on a real port: auth, room presence, chat, moderation, bad input."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiortc import RTCPeerConnection
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from meeting_sfu.protocol import CloseCode
from meeting_shared.settings import MediaNode
from tests.api.signaling_client import Peer, connect_peer, invite, join_rest
from tests.support.api import Api

pytestmark = pytest.mark.integration


async def test_join_snapshot_presence_and_departure(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host, settings={"mute_on_join": True})
    await invite(host, meeting["id"], guest)
    host_peer, snapshot = await connect_peer(api, host, meeting["id"])
    assert snapshot["me"]["user_id"] == str(host.id) and snapshot["me"]["role"] == "host"
    assert snapshot["participants"] == [] and snapshot["meeting"]["id"] == meeting["id"]
    assert snapshot["me"]["audio_muted"] is False  # the host is not muted on join

    guest_peer, guest_snapshot = await connect_peer(api, guest, meeting["id"])
    assert [p["user_id"] for p in guest_snapshot["participants"]] == [str(host.id)]
    assert guest_snapshot["me"]["audio_muted"] is True
    joined = await host_peer.next("participant_joined")
    assert joined["participant"]["user_id"] == str(guest.id)

    presence = await api.server.container.state.hash_get_all(f"room:{meeting['id']}:participants")
    assert set(presence) == {str(host.id), str(guest.id)}

    room = (await guest.client.get(f"/api/v1/meetings/{meeting['id']}/room")).json()
    assert room["open"] is True and room["signaling_url"].endswith("/ws/signaling")
    assert [p["user_id"] for p in room["participants"]] == [str(host.id), str(guest.id)]
    assert [p["audio_muted"] for p in room["participants"]] == [False, True]
    stranger = await api.user("stranger")
    assert (await stranger.client.get(f"/api/v1/meetings/{meeting['id']}/room")).status_code == 404

    await guest_peer.socket.close()
    left = await host_peer.next("participant_left")
    assert (left["user_id"], left["reason"]) == (str(guest.id), "left")
    people = (await host.client.get(f"/api/v1/meetings/{meeting['id']}/participants")).json()
    assert {p["user_id"]: p["state"] for p in people}[str(guest.id)] == "left"
    await host_peer.socket.close()


async def test_refuses_bad_tokens_foreign_origins_and_wrong_versions(api: Api) -> None:
    host = await api.user("host")
    meeting = await api.meeting(host)
    ticket = await join_rest(host, meeting["id"])
    url = ticket["signaling_url"]
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, origin="https://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403

    for token in (ticket["join_token"] + "x", host.access_token):
        async with connect(url, origin=api.server.url) as socket:  # type: ignore[arg-type]
            peer = Peer(socket, host)
            await peer.send(type="join", token=token)
            error = await peer.next()
            assert (error["type"], error["code"]) == ("error", "invalid_token")
            assert await peer.closed_with() == CloseCode.UNAUTHORIZED

    async with connect(url, origin=api.server.url) as socket:  # type: ignore[arg-type]
        peer = Peer(socket, host)
        await peer.send(type="join", v=99, token=ticket["join_token"])
        assert (await peer.next())["code"] == "unsupported_version"

    async with connect(url, origin=api.server.url) as socket:  # type: ignore[arg-type]
        peer = Peer(socket, host)
        await peer.send(type="chat", body="before joining")
        assert (await peer.next())["code"] == "invalid_frame"
        assert await peer.closed_with() == CloseCode.UNAUTHORIZED


async def test_chat_is_stamped_by_the_server_stored_and_broadcast(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host)
    await invite(host, meeting["id"], guest)
    host_peer, _ = await connect_peer(api, host, meeting["id"])
    guest_peer, _ = await connect_peer(api, guest, meeting["id"])
    await guest_peer.send(type="chat", body="  hello everyone  ")
    for peer in (host_peer, guest_peer):
        chat = await peer.next("chat")
        assert chat["body"] == "hello everyone" and chat["sender"]["user_id"] == str(guest.id)
    await guest_peer.send(type="chat", body="spoof", sender={"user_id": str(host.id)})
    assert (await guest_peer.next("error"))["code"] == "invalid_frame"
    history = (await host.client.get(f"/api/v1/meetings/{meeting['id']}/messages")).json()
    assert [m["body"] for m in history["items"]] == ["hello everyone"]
    for peer in (host_peer, guest_peer):
        await peer.socket.close()


async def test_chat_posted_through_the_api_reaches_the_room_once(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host)
    await invite(host, meeting["id"], guest)
    host_peer, _ = await connect_peer(api, host, meeting["id"])
    guest_peer, _ = await connect_peer(api, guest, meeting["id"])
    posted = await guest.client.post(
        f"/api/v1/meetings/{meeting['id']}/messages", json={"body": "from the API"}
    )
    assert posted.status_code == 201, posted.text
    for peer in (host_peer, guest_peer):
        chat = await peer.next("chat")
        assert chat["body"] == "from the API" and chat["sender"]["user_id"] == str(guest.id)
        assert chat["id"] == posted.json()["id"]
    # A message sent on the socket comes once, though its event reaches the node as well.
    await host_peer.send(type="chat", body="on the socket")
    await host_peer.send(type="ping", id="after")
    frames = []
    async with asyncio.timeout(5):
        while True:
            frame = await host_peer.next()
            if frame["type"] == "pong":
                break
            frames.append(frame)
    await asyncio.sleep(0.3)  # the event has been relayed by now
    await host_peer.send(type="ping", id="later")
    while (frame := await host_peer.next())["type"] != "pong":
        frames.append(frame)
    assert [f["body"] for f in frames if f["type"] == "chat"] == ["on the socket"]
    for peer in (host_peer, guest_peer):
        await peer.socket.close()


async def test_bad_frames_get_errors_and_the_node_keeps_serving(api: Api) -> None:
    host, other_host = await api.user("host"), await api.user("other")
    peer, _ = await connect_peer(api, host, (await api.meeting(host))["id"])
    bystander, _ = await connect_peer(api, other_host, (await api.meeting(other_host))["id"])
    cases = [
        ("{not json", "invalid_json"),
        ('["a", "list"]', "invalid_frame"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "raise_hand", "raised": "maybe"}', "invalid_frame"),
        ('{"type": "chat", "body": ""}', "invalid_frame"),
        ('{"type": "remove_participant", "user_id": "not-a-uuid"}', "invalid_frame"),
    ]
    for text, code in cases:
        await peer.socket.send(text)
        error = await peer.next("error")
        assert error["code"] == code, (text, error)
    await peer.socket.send(b"\x00\x01binary")
    assert (await peer.next("error"))["code"] == "invalid_frame"
    await peer.send(type="ping", id="p1")
    assert await peer.next("pong") == {"type": "pong", "id": "p1"}

    await peer.socket.send(json.dumps({"type": "chat", "body": "x" * 70_000}))
    assert await peer.closed_with() == CloseCode.MESSAGE_TOO_BIG
    await bystander.send(type="ping", id="still-here")
    assert (await bystander.next("pong"))["id"] == "still-here"
    await bystander.socket.close()


async def test_unusable_offers_and_deep_nesting_get_their_documented_codes(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="meeting_sfu")
    host = await api.user("host")
    peer, _ = await connect_peer(api, host, (await api.meeting(host))["id"])
    no_media = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    await peer.send(type="publish_offer", sdp=no_media, tracks=[])
    error = await peer.next("error")
    assert (error["code"], error["in_reply_to"]) == ("invalid_sdp", "publish_offer"), error

    client = RTCPeerConnection()
    try:
        client.addTransceiver("audio", direction="sendonly")
        client.addTransceiver("video", direction="sendonly")
        await client.setLocalDescription(await client.createOffer())
        offer = client.localDescription.sdp
        tracks = [{"mid": "0", "source": "microphone"}, {"mid": "1", "source": "camera"}]
        # Without BUNDLE the node could not carry the second m-line: refused, not ignored.
        unbundled = "".join(
            line for line in offer.splitlines(keepends=True) if not line.startswith("a=group:")
        )
        await peer.send(type="publish_offer", sdp=unbundled, tracks=tracks)
        error = await peer.next("error")
        assert error["code"] == "invalid_sdp" and "BUNDLE" in error["message"], error
        await peer.send(type="publish_offer", sdp=offer, tracks=tracks)  # the same, bundled
        assert (await peer.next("publish_answer", seconds=10))["sdp"].startswith("v=0")
    finally:
        await client.close()

    for text in (
        "[" * 30000 + "]" * 30000,
        '{"type": "chat", "body": ' + "[" * 20000 + "]" * 20000 + "}",
    ):
        await peer.socket.send(text)
        assert (await peer.next("error"))["code"] == "invalid_json"
    await peer.socket.send('{"type": 5}')
    error = await peer.next("error")
    assert (error["code"], error["in_reply_to"]) == ("unknown_type", None), error
    await peer.send(type="ping", id="after")
    assert (await peer.next("pong"))["id"] == "after"
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not failures, [r.getMessage() for r in failures]
    await peer.socket.close()


async def test_mute_hands_and_moderation(api: Api) -> None:
    host, guest, third = await api.user("host"), await api.user("guest"), await api.user("third")
    meeting = await api.meeting(host)
    await invite(host, meeting["id"], guest, third)
    host_peer, _ = await connect_peer(api, host, meeting["id"])
    guest_peer, _ = await connect_peer(api, guest, meeting["id"])
    third_peer, _ = await connect_peer(api, third, meeting["id"])

    await guest_peer.send(type="mute", video=True)
    updated = await host_peer.next("participant_updated")
    assert updated["participant"]["video_muted"] is True
    await guest_peer.send(type="raise_hand", raised=True)
    assert (await host_peer.next("participant_updated"))["participant"]["hand_raised"] is True

    await guest_peer.send(type="mute_participant", user_id=str(host.id))
    assert (await guest_peer.next("error"))["code"] == "not_meeting_manager"
    await host_peer.send(type="mute_participant", user_id=str(guest.id))
    assert (await guest_peer.next("muted_by_host"))["by"] == str(host.id)

    await host_peer.send(type="change_role", user_id=str(guest.id), role="co_host")
    promoted = await third_peer.next("participant_updated")
    while (
        promoted["participant"]["user_id"] != str(guest.id)
        or promoted["participant"]["role"] != "co_host"
    ):
        promoted = await third_peer.next("participant_updated")

    # Removal over the socket: the removed person is told and disconnected at once.
    await host_peer.send(type="remove_participant", user_id=str(third.id))
    removed = await third_peer.next("removed")
    assert (removed["by"], removed["reason"]) == (str(host.id), "removed")
    assert await third_peer.closed_with() == CloseCode.REMOVED
    left = await host_peer.next("participant_left")
    assert (left["user_id"], left["reason"]) == (str(third.id), "removed")
    # Removal through the REST API reaches the live room too.
    base = f"/api/v1/meetings/{meeting['id']}"
    rest_removed = await host.client.delete(f"{base}/participants/{guest.id}")
    assert rest_removed.status_code == 204, rest_removed.text
    assert await guest_peer.closed_with() == CloseCode.REMOVED
    await host_peer.socket.close()


async def test_end_for_all_closes_every_socket(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host)
    await invite(host, meeting["id"], guest)
    host_peer, _ = await connect_peer(api, host, meeting["id"])
    guest_peer, _ = await connect_peer(api, guest, meeting["id"])
    await guest_peer.send(type="end_meeting")
    assert (await guest_peer.next("error"))["code"] == "not_meeting_manager"
    await host_peer.send(type="end_meeting")
    for peer in (host_peer, guest_peer):
        assert (await peer.next("meeting_ended"))["by"] == str(host.id)
        assert await peer.closed_with() == CloseCode.MEETING_ENDED
    status = (await host.client.get(f"/api/v1/meetings/{meeting['id']}")).json()["status"]
    assert status == "ended"
    room = (await host.client.get(f"/api/v1/meetings/{meeting['id']}/room")).json()
    assert (room["open"], room["participants"]) == (False, [])


async def test_banned_or_deleted_accounts_are_dropped_and_told_why(api: Api) -> None:
    admin, host = await api.admin(), await api.user("host")
    banned, deleted = await api.user("banned"), await api.user("deleted")
    meeting = await api.meeting(host)
    await invite(host, meeting["id"], banned, deleted)
    host_peer, _ = await connect_peer(api, host, meeting["id"])
    banned_peer, _ = await connect_peer(api, banned, meeting["id"])
    deleted_peer, _ = await connect_peer(api, deleted, meeting["id"])
    users = "/api/v1/admin/users"
    assert (await admin.client.post(f"{users}/{banned.id}/ban", json={})).status_code == 200
    assert (await admin.client.delete(f"{users}/{deleted.id}")).status_code == 204
    for peer, reason in ((banned_peer, "banned"), (deleted_peer, "deleted")):
        removed = await peer.next("removed")
        assert (removed["by"], removed["reason"]) == (str(admin.id), reason)
        assert await peer.closed_with() == CloseCode.REMOVED
    await host_peer.socket.close()


async def test_a_removed_participants_old_ticket_no_longer_works(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host)
    await invite(host, meeting["id"], guest)
    await join_rest(host, meeting["id"])
    ticket = await join_rest(guest, meeting["id"])
    assert (
        await host.client.delete(f"/api/v1/meetings/{meeting['id']}/participants/{guest.id}")
    ).status_code == 204
    async with connect(ticket["signaling_url"], origin=api.server.url) as socket:  # type: ignore[arg-type]
        peer = Peer(socket, guest)
        await peer.send(type="join", token=ticket["join_token"])
        assert (await peer.next())["code"] == "not_a_participant"
        assert await peer.closed_with() == CloseCode.UNAUTHORIZED


async def test_rooms_go_to_live_nodes_and_move_when_a_node_dies(api: Api) -> None:
    nodes = api.server.container.nodes
    far = MediaNode(id="far-node", signaling_url="ws://far.example/ws/signaling")
    host = await api.user("host")
    assert "local" in [status.id for status in await nodes.live()]  # the gateway's own beat
    admin = await api.admin()
    listed = (await admin.client.get("/api/v1/admin/nodes")).json()
    assert "local" in [node["id"] for node in listed] and all("load" in node for node in listed)
    try:
        await nodes.heartbeat(far, load=0)
        for _ in range(20):  # equal loads: each meeting prefers one node, stably
            meeting = await api.meeting(host)
            ticket = await join_rest(host, meeting["id"])
            if ticket["node_id"] == far.id:
                break
        assert ticket["signaling_url"] == far.signaling_url
        async with connect(api.server.url.replace("http", "ws") + "/ws/signaling") as socket:
            peer = Peer(socket, host)
            await peer.send(type="join", token=ticket["join_token"])
            assert (await peer.next())["code"] == "wrong_node"
            assert await peer.closed_with() == CloseCode.NOT_HERE
        await nodes.forget(far.id)  # the far node stops beating
        again = await join_rest(host, meeting["id"])
        assert again["node_id"] == "local" and again["node_id"] != ticket["node_id"]
        room = (await host.client.get(f"/api/v1/meetings/{meeting['id']}/room")).json()
        assert room["node_id"] == "local"
    finally:
        await nodes.forget(far.id)


async def test_a_join_token_opens_one_connection_only(api: Api) -> None:
    host = await api.user("host")
    meeting = await api.meeting(host)
    ticket = await join_rest(host, meeting["id"])
    first = await connect(ticket["signaling_url"], origin=api.server.url)  # type: ignore[arg-type]
    await first.send(json.dumps({"type": "join", "token": ticket["join_token"]}))
    assert json.loads(await first.recv())["type"] == "joined"
    async with connect(ticket["signaling_url"], origin=api.server.url) as copied:  # type: ignore[arg-type]
        peer = Peer(copied, host)
        await peer.send(type="join", token=ticket["join_token"])
        assert (await peer.next())["code"] == "join_token_used"
        assert await peer.closed_with() == CloseCode.UNAUTHORIZED
    await first.send(json.dumps({"type": "ping", "id": "still-mine"}))
    assert json.loads(await first.recv()) == {"type": "pong", "id": "still-mine"}
    await first.close()


async def test_managers_in_the_room_hear_about_the_lobby(api: Api) -> None:
    host, guest, knocker = await api.user("host"), await api.user("guest"), await api.user("knock")
    late = await api.user("late")
    meeting = await api.meeting(host, settings={"require_approval": True})
    base = f"/api/v1/meetings/{meeting['id']}"
    await invite(host, meeting["id"], guest, knocker, late)
    waiting = await guest.client.post(f"{base}/join", json={})
    assert waiting.status_code == 202, waiting.text

    # The host joins while the guest waits: who waits comes right after the snapshot.
    host_peer, _ = await connect_peer(api, host, meeting["id"])
    lobby = await host_peer.next("lobby")
    assert [(e["user_id"], e["display_name"]) for e in lobby["waiting"]] == [
        (str(guest.id), guest.username)
    ]
    # Admitted, the guest is a plain participant: they get none of the lobby frames.
    await host_peer.send(type="admit", user_id=str(guest.id))
    resolved = await host_peer.next("lobby_resolved")
    assert resolved == {
        "type": "lobby_resolved",
        "user_id": str(guest.id),
        "admitted": True,
        "by": str(host.id),
    }
    guest_peer, _ = await connect_peer(api, guest, meeting["id"])

    # Someone knocks: the host is told who and since when; the guest is not.
    asked = await knocker.client.post(f"{base}/join", json={})
    assert asked.status_code == 202, asked.text
    request = await host_peer.next("lobby_request")
    assert request["user_id"] == str(knocker.id)
    assert request["display_name"] == knocker.username
    assert request["requested_at"].startswith(asked.json()["requested_at"][:19])
    # A co-host promoted now learns who is waiting at once.
    await host_peer.send(type="change_role", user_id=str(guest.id), role="co_host")
    lobby = await guest_peer.next("lobby")
    assert [entry["user_id"] for entry in lobby["waiting"]] == [str(knocker.id)]
    await host_peer.send(type="change_role", user_id=str(guest.id), role="participant")
    demoted = await guest_peer.next("participant_updated")
    while demoted["participant"]["role"] != "participant":
        demoted = await guest_peer.next("participant_updated")

    # Admitting through the REST API reaches the managers in the room; the knocker gets in.
    admitted = await host.client.post(f"{base}/lobby/{knocker.id}/admit")
    assert admitted.status_code == 204, admitted.text
    resolved = await host_peer.next("lobby_resolved")
    assert (resolved["user_id"], resolved["admitted"]) == (str(knocker.id), True)
    assert (await knocker.client.post(f"{base}/join", json={})).status_code == 200
    # Denials too.
    assert (await late.client.post(f"{base}/join", json={})).status_code == 202
    assert (await host_peer.next("lobby_request"))["user_id"] == str(late.id)
    await host_peer.send(type="deny", user_id=str(late.id))
    resolved = await host_peer.next("lobby_resolved")
    assert (resolved["user_id"], resolved["admitted"]) == (str(late.id), False)

    # The plain participant saw none of it (a ping answered proves the queue is drained).
    await guest_peer.send(type="ping", id="drain")
    seen: list[str] = []
    while (frame := await guest_peer.next())["type"] != "pong":
        seen.append(frame["type"])
    assert not {"lobby_request", "lobby_resolved", "lobby"} & set(seen), seen
    await guest_peer.socket.close()
    await host_peer.socket.close()
