"""Recording a real meeting: aiortc participants publish through the SFU while the media node
records every track, then the mixing worker makes one MP4; files land in S3 (SeaweedFS)."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from prometheus_client import REGISTRY

from meeting_sfu.recording.probe import probe
from meeting_shared.db.models import Recording
from meeting_shared.services.recordings import stored_tracks, tracks_of
from tests.conftest import Api
from tests.media.test_forwarding import Meeting, eventually
from tests.media_client import PatternTrack, SpeechTrack, ToneTrack, speech

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def recordings(peer_client: httpx.AsyncClient, meeting_id: str) -> list[dict[str, Any]]:
    response = await peer_client.get(f"/api/v1/meetings/{meeting_id}/recordings")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def download(client: httpx.AsyncClient, path: str, target: Path) -> Path:
    redirect = await client.get(path)
    assert redirect.status_code == 307, redirect.text
    async with httpx.AsyncClient() as plain:
        body = await plain.get(redirect.headers["location"])
    assert body.status_code == 200
    await asyncio.to_thread(target.write_bytes, body.content)
    return target


def frame_means(path: Path, seconds: list[float]) -> list[float]:
    """Mean pixel value of the first frame at or after each second."""
    means: list[float] = []
    wanted = list(seconds)
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if wanted and frame.time is not None and frame.time >= wanted[0]:
                means.append(float(frame.to_ndarray(format="gray").mean()))
                wanted.pop(0)
    return means


def audio_rms(path: Path) -> float:
    with av.open(str(path)) as container:
        samples = [
            frame.to_ndarray().astype(np.float32).ravel() for frame in container.decode(audio=0)
        ]
    joined = np.concatenate(samples)
    return float(np.sqrt(np.mean(joined**2)))


async def test_a_recorded_meeting_becomes_track_files_and_one_mixed_video(api: Api) -> None:
    host = await api.user("rhost")
    meeting = Meeting(api, await api.meeting(host, settings={"recording": True}), host)
    try:
        speaker_user = await meeting.guest("rspeaker")
        late_user = await meeting.guest("rlate")
        host_peer = await meeting.join(host)
        speaker = await meeting.join(speaker_user)
        await host_peer.publish((ToneTrack(loud=True), "microphone"), (PatternTrack(), "camera"))
        voice = SpeechTrack(speech("Welcome to the recorded part of our meeting."))
        await speaker.publish((voice, "microphone"), (PatternTrack(320, 240), "camera"))
        await asyncio.sleep(1.0)

        await host_peer.send(type="start_recording")
        state = await speaker.next("recording", seconds=10)
        assert state["active"] is True and state["started_by"] == str(host.id)
        voice.play()
        await asyncio.sleep(2.0)
        late = await meeting.join(late_user)  # joins while recording: sees it at once
        assert late.snapshot["recording"]["active"] is True
        await late.publish((PatternTrack(), "camera"))
        await asyncio.sleep(2.0)
        screen = PatternTrack(640, 360)
        await speaker.publish((screen, "screen"))  # a screen share in the middle
        await asyncio.sleep(3.0)
        screen.stop()
        await speaker.renegotiate()
        await asyncio.sleep(2.0)
        await host_peer.send(type="start_recording")
        refused = await host_peer.next("error", seconds=10)
        assert refused["code"] == "already_recording", refused

        listed = await recordings(host.client, meeting.id)
        assert listed[0]["status"] == "recording"
        mixed_before = REGISTRY.get_sample_value(
            "meeting_recordings_mixed_total", {"outcome": "ready"}
        )
        stop = await host.client.post(
            f"/api/v1/meetings/{meeting.id}/recordings/{listed[0]['id']}/stop"
        )
        assert stop.status_code == 200, stop.text
        assert (await late.next("recording", seconds=10))["active"] is False

        async def ready() -> bool:
            return (await recordings(host.client, meeting.id))[0]["status"] in ("ready", "failed")

        await eventually(ready, seconds=180, every=0.5)
        recording = (await recordings(host.client, meeting.id))[0]
        assert recording["status"] == "ready", recording["error"]
        # The gateway's embedded mixing worker counted it (Prometheus, recording dashboard).
        mixed_now = REGISTRY.get_sample_value(
            "meeting_recordings_mixed_total", {"outcome": "ready"}
        )
        assert mixed_now == (mixed_before or 0) + 1
        started = datetime.fromisoformat(recording["started_at"])
        stopped = datetime.fromisoformat(recording["stopped_at"])
        length = (stopped - started).total_seconds()
        sources = sorted(
            (t["display_name"] != "", t["source"], t["kind"]) for t in recording["tracks"]
        )
        assert sources.count((True, "camera", "video")) == 3
        assert sources.count((True, "microphone", "audio")) == 2
        assert (True, "screen", "video") in sources

        container = api.server.container
        async with container.db.read_session() as session:
            row = await session.get(Recording, uuid.UUID(recording["id"]))
        assert row is not None
        assert stored_tracks(row) == tracks_of(row)  # the captures were replaced and removed
        stored = [await container.blobs.head(t.blob_key) for t in tracks_of(row)]
        assert len(stored) == 6 and all(info is not None and info.size > 0 for info in stored)
        base = f"/api/v1/meetings/{meeting.id}/recordings/{recording['id']}"
        with tempfile.TemporaryDirectory() as directory:
            folder = Path(directory)
            mixed = await download(host.client, f"{base}/download", folder / "meeting.mp4")
            result = probe(mixed)
            assert [s.codec_name for s in result.video] == ["h264"]
            assert [s.codec_name for s in result.audio] == ["aac"]
            assert result.duration is not None and abs(result.duration - length) <= 1.0
            means = frame_means(mixed, [1.0, length / 2, length - 1.5])
            assert len(means) == 3 and len({round(m, 1) for m in means}) > 1  # frames change
            assert audio_rms(mixed) > 0.01  # not silence (AAC decodes to floats in [-1, 1])
            camera = next(t for t in recording["tracks"] if t["source"] == "camera")
            one = await download(
                host.client, f"{base}/download?track={camera['track_id']}", folder / "one.mkv"
            )
            assert probe(one).video[0].codec_name in ("vp8", "h264")
            thumbnail = await download(host.client, f"{base}/thumbnail", folder / "t.jpg")
            assert thumbnail.read_bytes()[:2] == b"\xff\xd8"
        stranger = await api.user("rstranger")
        assert (await stranger.client.get(f"{base}/download")).status_code == 404
        assert (await late_user.client.delete(base)).status_code == 403
        assert (await host.client.delete(base)).status_code == 204
        assert await recordings(host.client, meeting.id) == []
    finally:
        for peer in meeting.peers:
            await peer.close()


async def test_what_a_crashed_node_wrote_is_stored_and_mixed_when_it_starts_again(
    api: Api,
) -> None:
    """The node forgets a recording in the middle (as a crash would; its files stay on disk,
    as written up to the last flush) and then recovers, as it does when it starts."""
    host = await api.user("crashhost")
    meeting = Meeting(api, await api.meeting(host, settings={"recording": True}), host)
    try:
        peer = await meeting.join(host)
        await peer.publish((ToneTrack(loud=True), "microphone"), (PatternTrack(), "camera"))
        await asyncio.sleep(1.0)
        await peer.send(type="start_recording")
        assert (await peer.next("recording", seconds=10))["active"] is True
        await asyncio.sleep(4.0)

        node = api.server.app.state.signaling.recordings
        lost = node._active.pop(uuid.UUID(meeting.id))  # the process's memory is gone
        for recorder in lost.recorders.values():
            await recorder.stop()  # (what had been flushed is on disk; nothing more)
        assert (lost.folder / "manifest.jsonl").is_file()
        await node.recover()

        async def ready() -> bool:
            return (await recordings(host.client, meeting.id))[0]["status"] in ("ready", "failed")

        await eventually(ready, seconds=120, every=0.5)
        recording = (await recordings(host.client, meeting.id))[0]
        assert recording["status"] == "ready", recording["error"]
        assert "stopped during the recording" in (recording["error"] or "")
        assert sorted(t["source"] for t in recording["tracks"]) == ["camera", "microphone"]
        assert abs(recording["duration_seconds"] - 4.0) < 1.5
        assert not lost.folder.exists()  # stored, then cleaned up
    finally:
        for p in meeting.peers:
            await p.close()
