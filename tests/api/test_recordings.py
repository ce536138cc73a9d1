"""Recordings over the API: who may start and stop them, the states they go through, and
failures that are reported instead of silent (the media-side recording is in
tests/media/test_recording.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from meeting_shared.clock import utcnow
from meeting_shared.db.models import OutboxEvent, Recording, Room, TranscriptLine
from tests.support.api import Api, UserSession

pytestmark = pytest.mark.integration


async def live_meeting(api: Api, **settings: Any) -> tuple[UserSession, UserSession, str]:
    host = await api.user("rechost")
    guest = await api.user("recguest")
    meeting = await api.meeting(host, settings=settings)
    path = f"/api/v1/meetings/{meeting['id']}"
    assert (await host.client.post(f"{path}/invites", json={"user_id": str(guest.id)})).is_success
    assert (await host.client.post(f"{path}/start")).status_code == 200
    return host, guest, path


async def test_recording_needs_the_setting_a_manager_and_an_open_room(api: Api) -> None:
    host, guest, path = await live_meeting(api)
    refused = await host.client.post(f"{path}/recordings")
    assert (refused.status_code, refused.json()["code"]) == (403, "recording_disabled")

    host, guest, path = await live_meeting(api, recording=True)
    empty = await host.client.post(f"{path}/recordings")
    assert (empty.status_code, empty.json()["code"]) == (409, "room_not_open")
    assert (await host.client.post(f"{path}/join", json={})).status_code == 200
    assert (await guest.client.post(f"{path}/join", json={})).status_code == 200
    participant = await guest.client.post(f"{path}/recordings")
    assert (participant.status_code, participant.json()["code"]) == (403, "not_meeting_manager")
    nothing = await host.client.post(f"{path}/recordings/{host.id}/stop")  # no such recording
    assert (nothing.status_code, nothing.json()["code"]) == (404, "recording_not_found")


async def test_a_recording_nobody_is_connected_to_fails_visibly(api: Api) -> None:
    host, _guest, path = await live_meeting(api, recording=True)
    assert (await host.client.post(f"{path}/join", json={})).status_code == 200  # no socket
    started = await host.client.post(f"{path}/recordings")
    assert started.status_code == 201, started.text
    recording = started.json()
    assert recording["status"] == "recording" and recording["tracks"] == []

    async def failed() -> dict[str, Any] | None:
        for item in (await host.client.get(f"{path}/recordings")).json():
            if item["id"] == recording["id"] and item["status"] == "failed":
                return dict(item)
        return None

    for _ in range(50):
        found = await failed()
        if found:
            break
        await asyncio.sleep(0.1)
    assert found is not None, "the media node should fail a recording of an empty room"
    assert "left the room" in found["error"]
    stop = await host.client.post(f"{path}/recordings/{recording['id']}/stop")
    assert (stop.status_code, stop.json()["code"]) == (409, "not_recording")
    missing = await host.client.get(f"{path}/recordings/{recording['id']}/download")
    assert (missing.status_code, missing.json()["code"]) == (404, "recording_file_not_found")


async def test_a_room_moved_to_another_node_can_be_recorded_again(api: Api) -> None:
    """Its node stopped during a recording and the room opened elsewhere: the old recording
    stops (its node stores it when it is back) instead of blocking every new one."""
    host, _guest, path = await live_meeting(api, recording=True)
    assert (await host.client.post(f"{path}/join", json={})).status_code == 200
    container = api.server.container
    meeting_id = uuid.UUID(path.rsplit("/", 1)[1])
    async with container.db.session() as session:
        room = await session.scalar(select(Room).where(Room.meeting_id == meeting_id))
        assert room is not None
        room.node_id = "a-node-that-stopped"  # where the room was while the first part ran
        first = Recording(
            id=uuid.uuid4(), meeting_id=meeting_id, started_by=host.id, status="recording",
            kind="mixed", node_id="a-node-that-stopped", started_at=utcnow(),
        )  # fmt: skip
        session.add(first)
        await session.commit()
    again = await host.client.post(f"{path}/recordings")
    assert (again.status_code, again.json()["code"]) == (409, "already_recording")
    async with container.db.session() as session:
        room = await session.scalar(select(Room).where(Room.meeting_id == meeting_id))
        assert room is not None
        room.node_id = "the-node-it-moved-to"  # placed again (no node here: none reacts)
        await session.commit()

    started = await host.client.post(f"{path}/recordings")
    assert started.status_code == 201, started.text
    listed = {item["id"]: item for item in (await host.client.get(f"{path}/recordings")).json()}
    assert listed[str(first.id)]["status"] == "processing"
    assert listed[str(first.id)]["stopped_at"] is not None
    assert listed[started.json()["id"]]["status"] == "recording"
    stop = await host.client.post(f"{path}/recordings/{started.json()['id']}/stop")
    assert stop.status_code == 200, stop.text


async def test_a_recordings_captions_are_the_lines_said_while_it_ran_with_their_emotion(
    api: Api,
) -> None:
    """What the mixing worker turns into the recording's WebVTT (TranscriptService)."""
    host, _guest, path = await live_meeting(api, recording=True)
    meeting_id = uuid.UUID(path.rsplit("/", 1)[1])
    container = api.server.container
    start = utcnow()
    said = [  # (seconds from the start, text, emotion)
        (-30.0, "before the recording", None),
        (-1.0, "overlapping its start", None),
        (5.0, "what a great idea", ("positive", 0.66)),
        (90.0, "after it stopped", None),
    ]
    async with container.db.session() as session:
        for offset, text, emotion in said:
            session.add(
                TranscriptLine(
                    id=uuid.uuid4(), meeting_id=meeting_id, speaker_id=host.id, text=text,
                    language="en", started_at=start + timedelta(seconds=offset),
                    ended_at=start + timedelta(seconds=offset + 2),
                    emotion=emotion[0] if emotion else None,
                    emotion_score=emotion[1] if emotion else None,
                )
            )  # fmt: skip
        await session.commit()
    async with container.open_services(read_only=True) as services:
        lines = await services.transcripts.lines_between(
            meeting_id, start, start + timedelta(seconds=60)
        )
    assert [line.text for line in lines] == ["overlapping its start", "what a great idea"]
    assert lines[0].emotion is None
    assert lines[1].emotion is not None
    assert (lines[1].emotion.label, lines[1].emotion.score) == ("positive", 0.66)
    assert all(line.user_id == host.id and line.display_name for line in lines)


async def test_ending_a_meeting_stops_its_recording_in_the_same_change(api: Api) -> None:
    host, _guest, path = await live_meeting(api, recording=True)
    assert (await host.client.post(f"{path}/join", json={})).status_code == 200
    meeting_id = uuid.UUID(path.rsplit("/", 1)[1])
    # Written here, on no node: no media node reacts (and fails it for an empty room).
    recording = Recording(
        id=uuid.uuid4(), meeting_id=meeting_id, started_by=host.id, status="recording",
        kind="mixed", node_id="a-node-elsewhere", started_at=utcnow(),
    )  # fmt: skip
    db = api.server.container.db
    async with db.session() as session:
        session.add(recording)
        await session.commit()

    assert (await host.client.post(f"{path}/end")).status_code == 200
    listed = {item["id"]: item for item in (await host.client.get(f"{path}/recordings")).json()}
    assert listed[str(recording.id)]["status"] == "processing"
    assert listed[str(recording.id)]["stopped_at"] is not None
    async with db.read_session() as session:
        stopped = (
            await session.scalars(
                select(OutboxEvent.payload).where(
                    OutboxEvent.type == "recording.stopped", OutboxEvent.key == str(meeting_id)
                )
            )
        ).all()
    assert [event["data"]["recording_id"] for event in stopped] == [str(recording.id)]
    assert stopped[0]["data"]["actor_id"] is None  # stopped because the meeting ended
