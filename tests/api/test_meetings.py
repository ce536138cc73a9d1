"""Meetings end to end: scheduling, ways in (invite, link, password, lobby), roles, chat, end."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from meeting_shared.db.models import OutboxEvent
from tests.api.problems import error_fields, expect_problem
from tests.support.api import Api, UserSession

pytestmark = pytest.mark.integration


def _iso(moment: datetime) -> str:
    return moment.isoformat()


async def _invite(host: UserSession, meeting_id: str, user: UserSession) -> None:
    response = await host.client.post(
        f"/api/v1/meetings/{meeting_id}/invites", json={"user_id": str(user.id)}
    )
    assert response.status_code == 201, response.text
    assert response.json()["invitee_id"] == str(user.id)
    assert response.json()["token"] is None


async def _join(user: UserSession, meeting_id: str, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await user.client.post(f"/api/v1/meetings/{meeting_id}/join", json=body)
    payload: dict[str, Any] = response.json()
    return response.status_code, payload


async def test_create_with_defaults_and_schedule_checks(api: Api) -> None:
    host = await api.user("host")
    meeting = await api.meeting(host, description="Agenda", password="s3cret")
    assert meeting["status"] == "scheduled"
    assert meeting["my_role"] == "host"
    assert meeting["has_password"] is True
    assert "password" not in meeting and "password_hash" not in meeting
    assert meeting["settings"]["chat"] is True and meeting["settings"]["require_approval"] is False
    start = datetime.fromisoformat(meeting["start_time"])
    end = datetime.fromisoformat(meeting["end_time"])
    assert end - start == timedelta(hours=1)

    now = datetime.now(UTC)
    bad_order = await host.client.post(
        "/api/v1/meetings",
        json={"title": "x", "start_time": _iso(now + timedelta(hours=2)), "end_time": _iso(now)},
    )
    assert bad_order.status_code == 422
    assert bad_order.json()["errors"][0]["field"] == "end_time"
    past = await host.client.post(
        "/api/v1/meetings", json={"title": "x", "start_time": _iso(now - timedelta(days=1))}
    )
    assert past.status_code == 422 and past.json()["code"] == "start_in_past"
    naive = await host.client.post(
        "/api/v1/meetings", json={"title": "x", "start_time": "2030-01-01T10:00:00"}
    )
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "start_time"
    bad_type = await host.client.post(
        "/api/v1/meetings", json={"title": "x", "meeting_type": "fax"}
    )
    assert bad_type.status_code == 422


async def test_times_at_the_end_of_the_calendar_are_invalid_input(api: Api) -> None:
    host = await api.user("host")
    # No end: the default end (an hour later) would be past the year 9999.
    late = await host.client.post(
        "/api/v1/meetings", json={"title": "x", "start_time": "9999-12-31T23:30:00Z"}
    )
    assert error_fields(expect_problem(late, 422, "invalid_schedule")) == ["start_time"]
    # In UTC this is in the year 10000.
    beyond = await host.client.post(
        "/api/v1/meetings", json={"title": "x", "start_time": "9999-12-31T23:30:00-05:00"}
    )
    assert error_fields(expect_problem(beyond, 422, "validation_failed")) == ["start_time"]
    meeting = await api.meeting(host)
    moved = await host.client.patch(
        f"/api/v1/meetings/{meeting['id']}", json={"end_time": "9999-12-31T23:59:00-01:00"}
    )
    assert error_fields(expect_problem(moved, 422, "validation_failed")) == ["end_time"]
    history = await host.client.get(
        f"/api/v1/meetings/{meeting['id']}/messages",
        params={"before": "9999-12-31T23:59:00-01:00"},
    )
    assert error_fields(expect_problem(history, 422, "validation_failed")) == ["query.before"]
    # The last hour that can be given whole still works.
    last = await host.client.post(
        "/api/v1/meetings",
        json={
            "title": "x",
            "start_time": "9999-12-31T22:00:00Z",
            "end_time": "9999-12-31T23:59:59+00:00",
        },
    )
    assert last.status_code == 201, last.text


async def test_update_by_host_only_and_password_can_be_cleared(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host, password="s3cret")
    await _invite(host, meeting["id"], guest)

    change = await host.client.patch(
        f"/api/v1/meetings/{meeting['id']}",
        json={"title": "Renamed", "settings": {"mute_on_join": True}, "password": None},
    )
    assert change.status_code == 200, change.text
    updated = change.json()
    assert updated["title"] == "Renamed"
    assert updated["has_password"] is False
    assert updated["settings"]["mute_on_join"] is True
    assert updated["settings"]["chat"] is True  # untouched settings keep their values

    refused = await guest.client.patch(f"/api/v1/meetings/{meeting['id']}", json={"title": "Mine"})
    assert refused.status_code == 403 and refused.json()["code"] == "not_meeting_manager"
    empty = await host.client.patch(f"/api/v1/meetings/{meeting['id']}", json={})
    assert empty.status_code == 422


async def test_lists_upcoming_and_history(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    first = await api.meeting(host, title="First")
    second = await api.meeting(host, title="Second")
    await _invite(host, second["id"], guest)

    mine = (await host.client.get("/api/v1/meetings")).json()
    assert {item["id"] for item in mine["items"]} == {first["id"], second["id"]}
    assert mine["total"] == 2
    theirs = (await guest.client.get("/api/v1/meetings")).json()
    assert [item["id"] for item in theirs["items"]] == [second["id"]]
    assert theirs["items"][0]["my_role"] == "participant"

    assert (await host.client.post(f"/api/v1/meetings/{first['id']}/start")).status_code == 200
    assert (await host.client.post(f"/api/v1/meetings/{first['id']}/end")).status_code == 200
    assert (await host.client.delete(f"/api/v1/meetings/{second['id']}")).status_code == 204

    upcoming = (await host.client.get("/api/v1/my/meetings/upcoming")).json()
    history = (await host.client.get("/api/v1/my/meetings/history")).json()
    assert upcoming["items"] == []
    assert {item["id"]: item["status"] for item in history["items"]} == {
        first["id"]: "ended",
        second["id"]: "cancelled",
    }
    paged = (await host.client.get("/api/v1/meetings", params={"page_size": 1, "page": 2})).json()
    assert paged["total"] == 2 and len(paged["items"]) == 1 and paged["page"] == 2
    too_big = await host.client.get("/api/v1/meetings", params={"page_size": 1000})
    assert too_big.status_code == 422


async def test_host_join_starts_meeting_and_returns_join_token(api: Api) -> None:
    host = await api.user("host")
    meeting = await api.meeting(host)
    status, joined = await _join(host, meeting["id"])
    assert status == 200, joined
    assert joined["status"] == "joined" and joined["role"] == "host"
    assert joined["participant"]["user_id"] == str(host.id)
    assert joined["participant"]["state"] == "joined"
    assert joined["participant"]["id"] == joined["participant_id"]
    assert joined["meeting"]["status"] == "live"
    assert joined["signaling_url"].endswith("/ws/signaling")
    claims = api.server.container.tokens.read_join(joined["join_token"])
    assert claims.meeting_id == uuid.UUID(meeting["id"])
    assert claims.user_id == host.id and claims.role == "host"
    assert claims.node_id == joined["node_id"]
    # An access token is not a join token and vice versa.
    with pytest.raises(Exception, match="not valid"):
        api.server.container.tokens.read_join(host.access_token)


async def test_strangers_cannot_see_or_join_without_a_way_in(api: Api) -> None:
    host, stranger = await api.user("host"), await api.user("stranger")
    meeting = await api.meeting(host)
    status, body = await _join(stranger, meeting["id"])
    assert status == 404 and body["code"] == "meeting_not_found"
    details = await stranger.client.get(f"/api/v1/meetings/{meeting['id']}")
    missing = await stranger.client.get(f"/api/v1/meetings/{uuid.uuid4()}")
    assert details.status_code == missing.status_code == 404
    assert details.json()["code"] == missing.json()["code"]


async def test_password_path(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host, password="open-sesame")
    status, body = await _join(guest, meeting["id"])
    assert (status, body["code"]) == (403, "password_required")
    status, body = await _join(guest, meeting["id"], password="wrong-one")
    assert (status, body["code"]) == (403, "wrong_password")
    status, body = await _join(guest, meeting["id"], password="open-sesame")
    assert status == 200 and body["role"] == "participant"
    # Once a member, no password is needed to come back.
    assert (await guest.client.post(f"/api/v1/meetings/{meeting['id']}/leave")).status_code == 204
    status, body = await _join(guest, meeting["id"])
    assert status == 200


async def test_invite_link_with_limited_uses(api: Api) -> None:
    host, first, second = await api.user("host"), await api.user("a"), await api.user("b")
    meeting = await api.meeting(host)
    created = await host.client.post(
        f"/api/v1/meetings/{meeting['id']}/invites", json={"max_uses": 1, "expires_in_hours": 2}
    )
    assert created.status_code == 201, created.text
    invite = created.json()
    assert invite["token"] and invite["url"].endswith(f"?invite={invite['token']}")
    assert f"/join/{meeting['id']}" in invite["url"]

    status, _ = await _join(first, meeting["id"], invite_token=invite["token"])
    assert status == 200
    status, body = await _join(second, meeting["id"], invite_token=invite["token"])
    assert (status, body["code"]) == (403, "invite_used_up")
    status, body = await _join(second, meeting["id"], invite_token="forged-" + invite["token"])
    assert (status, body["code"]) == (403, "invalid_invite")


async def test_lobby_admit_and_deny(api: Api) -> None:
    host, admitted, denied = await api.user("host"), await api.user("in"), await api.user("out")
    meeting = await api.meeting(host, settings={"require_approval": True})
    for user in (admitted, denied):
        await _invite(host, meeting["id"], user)
    await _join(host, meeting["id"])

    status, body = await _join(admitted, meeting["id"])
    assert status == 202 and body["status"] == "waiting"
    # Whoever waits sees what for and whom (the lobby screen shows both).
    assert body["meeting_title"] == meeting["title"]
    assert body["host_display_name"] == host.username
    status, _ = await _join(denied, meeting["id"])
    assert status == 202
    status, _ = await _join(admitted, meeting["id"])  # asking again keeps waiting
    assert status == 202

    lobby = (await host.client.get(f"/api/v1/meetings/{meeting['id']}/lobby")).json()
    assert {entry["user"]["id"] for entry in lobby} == {str(admitted.id), str(denied.id)}
    not_host = await admitted.client.get(f"/api/v1/meetings/{meeting['id']}/lobby")
    assert not_host.status_code == 403

    base = f"/api/v1/meetings/{meeting['id']}/lobby"
    assert (await host.client.post(f"{base}/{admitted.id}/admit")).status_code == 204
    assert (await host.client.post(f"{base}/{denied.id}/deny")).status_code == 204
    again = await host.client.post(f"{base}/{denied.id}/deny")
    assert again.status_code == 409 and again.json()["code"] == "lobby_already_decided"
    unknown = await host.client.post(f"{base}/{uuid.uuid4()}/admit")
    assert unknown.status_code == 404

    status, body = await _join(admitted, meeting["id"])
    assert status == 200 and body["status"] == "joined"
    status, body = await _join(denied, meeting["id"])
    assert (status, body["code"]) == (403, "lobby_denied")
    assert (await host.client.get(base)).json() == []
    # Turning approval off later does not lift a refusal; admitting does.
    await host.client.patch(
        f"/api/v1/meetings/{meeting['id']}", json={"settings": {"require_approval": False}}
    )
    status, body = await _join(denied, meeting["id"])
    assert (status, body["code"]) == (403, "lobby_denied")
    assert (await host.client.post(f"{base}/{denied.id}/admit")).status_code == 204
    assert (await _join(denied, meeting["id"]))[0] == 200


async def test_capacity_is_enforced(api: Api) -> None:
    host, first, second = await api.user("host"), await api.user("a"), await api.user("b")
    meeting = await api.meeting(host, max_participants=2)
    for user in (first, second):
        await _invite(host, meeting["id"], user)
    assert (await _join(host, meeting["id"]))[0] == 200
    assert (await _join(first, meeting["id"]))[0] == 200
    status, body = await _join(second, meeting["id"])
    assert (status, body["code"]) == (409, "meeting_full")
    await first.client.post(f"/api/v1/meetings/{meeting['id']}/leave")
    assert (await _join(second, meeting["id"]))[0] == 200


@pytest.mark.timeout(240)
async def test_concurrent_joins_never_exceed_capacity(each_api: Api) -> None:
    """Many people joining a nearly full meeting at once: exactly as many get in as fit, on both
    databases, every round."""
    host = await each_api.user("host")
    joiners = [await each_api.user(f"j{index}") for index in range(8)]
    for _round in range(4):
        meeting = await each_api.meeting(host, max_participants=2)
        for user in joiners:  # invited by name: nothing else they share holds them back
            await _invite(host, meeting["id"], user)
        results = await asyncio.gather(*(_join(user, meeting["id"]) for user in joiners))
        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 200] + [409] * 6, results
        assert {body["code"] for status, body in results if status == 409} == {"meeting_full"}
        listed = await host.client.get(f"/api/v1/meetings/{meeting['id']}/participants")
        joined = [item for item in listed.json() if item["state"] == "joined"]
        assert len(joined) == 2, listed.json()


async def test_roles_removal_and_host_handover(api: Api) -> None:
    host, helper, guest = await api.user("host"), await api.user("cohost"), await api.user("guest")
    meeting = await api.meeting(host)
    base = f"/api/v1/meetings/{meeting['id']}"
    for user in (helper, guest):
        await _invite(host, meeting["id"], user)
        assert (await _join(user, meeting["id"]))[0] == 200

    promoted = await host.client.patch(f"{base}/participants/{helper.id}", json={"role": "co_host"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "co_host"
    # A co-host manages participants but cannot touch the host or hand out host roles.
    assert (
        await helper.client.patch(f"{base}/participants/{guest.id}", json={"role": "presenter"})
    ).status_code == 200
    assert (
        await helper.client.patch(f"{base}/participants/{guest.id}", json={"role": "co_host"})
    ).status_code == 403
    assert (await helper.client.delete(f"{base}/participants/{host.id}")).status_code == 403
    assert (await guest.client.delete(f"{base}/participants/{helper.id}")).status_code == 403
    self_change = await host.client.patch(
        f"{base}/participants/{host.id}", json={"role": "participant"}
    )
    assert self_change.status_code == 403

    assert (await helper.client.delete(f"{base}/participants/{guest.id}")).status_code == 204
    status, body = await _join(guest, meeting["id"])
    assert (status, body["code"]) == (403, "removed_from_meeting")
    assert (await guest.client.get(base)).status_code == 404
    people = {
        p["user_id"]: p["role"] for p in (await host.client.get(f"{base}/participants")).json()
    }
    assert people == {str(host.id): "host", str(helper.id): "co_host"}

    handover = await host.client.patch(f"{base}/participants/{helper.id}", json={"role": "host"})
    assert handover.status_code == 200 and handover.json()["role"] == "host"
    details = (await helper.client.get(base)).json()
    assert details["host_id"] == str(helper.id) and details["my_role"] == "host"
    assert (await host.client.get(base)).json()["my_role"] == "co_host"

    # Inviting a removed person again lets them back in.
    await _invite(helper, meeting["id"], guest)
    assert (await _join(guest, meeting["id"]))[0] == 200


async def test_end_for_everyone_and_cancel(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host)
    base = f"/api/v1/meetings/{meeting['id']}"
    await _invite(host, meeting["id"], guest)
    await _join(host, meeting["id"])
    await _join(guest, meeting["id"])

    live_cancel = await host.client.delete(base)
    assert live_cancel.status_code == 409 and live_cancel.json()["code"] == "meeting_live"
    assert (await guest.client.post(f"{base}/end")).status_code == 403
    ended = await host.client.post(f"{base}/end")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    states = {
        p["user_id"]: p["state"] for p in (await host.client.get(f"{base}/participants")).json()
    }
    assert set(states.values()) == {"left"}
    status, body = await _join(guest, meeting["id"])
    assert (status, body["code"]) == (409, "meeting_ended")
    assert (await host.client.post(f"{base}/end")).status_code == 409
    assert (await host.client.post(f"{base}/start")).status_code == 409
    assert (await host.client.patch(base, json={"title": "late"})).status_code == 409

    scheduled = await api.meeting(host)
    assert (await guest.client.delete(f"/api/v1/meetings/{scheduled['id']}")).status_code == 404
    assert (await host.client.delete(f"/api/v1/meetings/{scheduled['id']}")).status_code == 204
    cancelled = (await host.client.get(f"/api/v1/meetings/{scheduled['id']}")).json()
    assert cancelled["status"] == "cancelled"


async def test_chat_history_pages_backwards(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host)
    base = f"/api/v1/meetings/{meeting['id']}/messages"
    await _invite(host, meeting["id"], guest)
    for number in range(5):
        author = host if number % 2 == 0 else guest
        posted = await author.client.post(base, json={"body": f"message {number}"})
        assert posted.status_code == 201, posted.text
        assert posted.json()["sender"]["id"] == str(author.id)

    latest = (await guest.client.get(base, params={"limit": 3})).json()
    assert [m["body"] for m in latest["items"]] == ["message 2", "message 3", "message 4"]
    older = (
        await guest.client.get(base, params={"limit": 3, "before": latest["next_before"]})
    ).json()
    assert [m["body"] for m in older["items"]] == ["message 0", "message 1"]
    assert older["next_before"] is None

    blank = await host.client.post(base, json={"body": "   "})
    assert blank.status_code == 422
    stranger = await api.user("stranger")
    assert (await stranger.client.get(base)).status_code == 404
    await host.client.patch(f"/api/v1/meetings/{meeting['id']}", json={"settings": {"chat": False}})
    off = await guest.client.post(base, json={"body": "hello?"})
    assert off.status_code == 403 and off.json()["code"] == "chat_disabled"


async def test_recordings_list_for_members(api: Api) -> None:
    host = await api.user("host")
    meeting = await api.meeting(host, settings={"recording": True})
    response = await host.client.get(f"/api/v1/meetings/{meeting['id']}/recordings")
    assert response.status_code == 200 and response.json() == []


async def test_admin_lists_and_force_ends_meetings(api: Api) -> None:
    host, admin = await api.user("host"), await api.admin()
    meeting = await api.meeting(host, title=f"Town hall {uuid.uuid4().hex[:6]}")
    await _join(host, meeting["id"])
    listed = await admin.client.get("/api/v1/admin/meetings", params={"q": meeting["title"]})
    assert [item["id"] for item in listed.json()["items"]] == [meeting["id"]]
    live = await admin.client.get("/api/v1/admin/meetings", params={"status": "live"})
    assert meeting["id"] in {item["id"] for item in live.json()["items"]}
    ended = await admin.client.post(f"/api/v1/admin/meetings/{meeting['id']}/end")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    assert (await host.client.get("/api/v1/admin/meetings")).status_code == 403


async def test_every_change_is_published_as_an_event(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host, settings={"require_approval": True})
    await _invite(host, meeting["id"], guest)
    await _join(host, meeting["id"])
    await _join(guest, meeting["id"])
    await host.client.post(f"/api/v1/meetings/{meeting['id']}/lobby/{guest.id}/admit")
    await _join(guest, meeting["id"])
    await host.client.post(f"/api/v1/meetings/{meeting['id']}/end")

    expected = [
        "meeting.created",
        "meeting.invite_created",
        "meeting.started",
        "participant.joined",
        "participant.waiting",
        "participant.admitted",
        "participant.joined",
        "participant.left",
        "participant.left",
        "meeting.ended",
    ]
    subject = f"meeting/{meeting['id']}"
    container = api.server.container
    rows: list[OutboxEvent] = []
    for _ in range(100):  # the relay publishes right after each commit
        async with container.db.session() as session:
            rows = list(
                (
                    await session.scalars(
                        select(OutboxEvent)
                        .where(OutboxEvent.payload["subject"].as_string() == subject)
                        .order_by(OutboxEvent.seq)
                    )
                ).all()
            )
        if rows and all(row.published for row in rows):
            break
        await asyncio.sleep(0.05)
    assert [row.type for row in rows] == expected
    assert all(row.published for row in rows)
    assert {row.key for row in rows} == {meeting["id"]}


async def test_cached_lists_follow_every_change_at_once(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host, title="Before")

    async def titles(user: UserSession) -> dict[str, str]:
        listed = await user.client.get("/api/v1/meetings")
        assert listed.status_code == 200
        return {item["id"]: item["title"] for item in listed.json()["items"]}

    async def roles(user: UserSession) -> dict[str, str]:
        listed = await user.client.get("/api/v1/my/meetings/upcoming")
        return {item["id"]: item["my_role"] for item in listed.json()["items"]}

    assert await titles(guest) == {}  # cached: empty
    await _invite(host, meeting["id"], guest)
    assert await titles(guest) == {meeting["id"]: "Before"}
    assert await roles(guest) == {meeting["id"]: "participant"}
    await host.client.patch(f"/api/v1/meetings/{meeting['id']}", json={"title": "After"})
    assert await titles(guest) == {meeting["id"]: "After"}
    await host.client.patch(
        f"/api/v1/meetings/{meeting['id']}/participants/{guest.id}", json={"role": "presenter"}
    )
    assert await roles(guest) == {meeting["id"]: "presenter"}
    await host.client.delete(f"/api/v1/meetings/{meeting['id']}/participants/{guest.id}")
    assert await titles(guest) == {}
    assert await titles(host) == {meeting["id"]: "After"}
