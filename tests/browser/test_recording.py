"""Recording a real meeting of three Chromium participants (fake cameras, one microphone playing
a speech file) for about 20 s with a screen share in the middle: the per-track files and the
mixed MP4 land in S3 (SeaweedFS) and play as expected."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from meeting_sfu.recording.probe import probe
from meeting_shared.db.models import Recording
from meeting_shared.services.recordings import tracks_of
from tests.browser.harness import Factory, Participant, eventually, in_room
from tests.conftest import Api, LiveServer
from tests.media.test_recording import audio_rms, download, frame_means

pytestmark = [pytest.mark.integration, pytest.mark.timeout(360)]

SENTENCE = "This part of the meeting is recorded for the people who could not join today."


async def recordings(person: Participant, meeting_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        await person.user.client.get(f"/api/v1/meetings/{meeting_id}/recordings")
    ).json()
    return found


async def test_three_people_recorded_with_a_screen_share(
    speaking_browser: Browser, people: Factory, api: Api, live_server: LiveServer
) -> None:
    user = await api.user("recspeaker")
    context = await speaking_browser.new_context(
        base_url=live_server.url, viewport={"width": 1000, "height": 700}
    )
    host = Participant(name="recspeaker", user=user, context=context, page=await context.new_page())
    ann, ben = await people("recann"), await people("recben")
    try:
        meeting = await api.meeting(host.user, settings={"recording": True})
        for guest in (ann, ben):
            invite = {"user_id": str(guest.user.id)}
            await host.user.client.post(f"/api/v1/meetings/{meeting['id']}/invites", json=invite)
        path = f"/api/v1/meetings/{meeting['id']}"
        nothing = await host.user.client.post(f"{path}/recordings/{uuid.uuid4()}/stop")
        assert nothing.status_code == 404  # no such recording
        for person in (host, ann, ben):
            await person.sign_in(f"/join/{meeting['id']}")
            if person is not host:
                await person.page.get_by_test_id("prejoin-mic-toggle").click()
            await in_room(person)

        await host.page.get_by_test_id("toggle-recording").click()
        for person in (host, ann, ben):
            await person.page.get_by_test_id("recording-indicator").wait_for(state="visible")
        started = time.monotonic()
        await asyncio.sleep(6)
        await ben.page.get_by_role("button", name="Share your screen").click()
        await asyncio.sleep(7)
        await ben.page.get_by_role("button", name="Stop sharing your screen").click()
        await asyncio.sleep(max(0.0, 20 - (time.monotonic() - started)))
        await host.page.get_by_test_id("toggle-recording").click()
        for person in (host, ann, ben):
            await person.page.get_by_test_id("recording-indicator").wait_for(state="hidden")
        latest_id = (await recordings(host, meeting["id"]))[0]["id"]
        again = await host.user.client.post(f"{path}/recordings/{latest_id}/stop")
        assert (again.status_code, again.json()["code"]) == (409, "not_recording")

        async def finished() -> dict[str, Any] | None:
            latest = (await recordings(host, meeting["id"]))[0]
            return latest if latest["status"] in ("ready", "failed") else None

        recording = await eventually(finished, seconds=240, what="the mixed recording")
        assert recording["status"] == "ready", recording["error"]
        kinds = sorted((t["source"], t["kind"]) for t in recording["tracks"])
        assert kinds.count(("camera", "video")) == 3
        assert ("screen", "video") in kinds and ("microphone", "audio") in kinds
        async with live_server.container.db.read_session() as session:
            row = await session.get(Recording, uuid.UUID(recording["id"]))
        assert row is not None
        for track in tracks_of(row):  # every per-track file is in S3
            info = await live_server.container.blobs.head(track.blob_key)
            assert info is not None and info.size > 0, track

        length = (
            datetime.fromisoformat(recording["stopped_at"])
            - datetime.fromisoformat(recording["started_at"])
        ).total_seconds()
        base = f"{path}/recordings/{recording['id']}"
        with tempfile.TemporaryDirectory() as directory:
            mixed = await download(host.user.client, f"{base}/download", Path(directory) / "m.mp4")
            found = probe(mixed)
            assert [s.codec_name for s in found.video] == ["h264"]
            assert [s.codec_name for s in found.audio] == ["aac"]
            assert found.duration is not None and abs(found.duration - length) <= 1.0
            means = frame_means(mixed, [2.0, 9.0, length - 2.0])
            assert len(means) == 3 and len({round(m, 1) for m in means}) > 1
            assert audio_rms(mixed) > 0.005
        stranger = await api.user("recstranger")
        assert (await stranger.client.get(f"{base}/download")).status_code == 404

        # The meeting page lists it with a player.
        await host.page.goto(f"/meetings/{meeting['id']}")
        await host.page.get_by_test_id("recordings-list").locator("video").first.wait_for()
        await host.screenshot("recordings")
    finally:
        await context.close()
