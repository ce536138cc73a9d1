"""Live captions, emotion cues and announcements, end to end as production runs them: a media
node taps a speaker's audio, Kafka carries the speech to a real AI node (Triton on the CPU) and
the caption back, the room gets it, the transcript keeps it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from skimage import data as pictures

from tests.support.api import Api
from tests.support.live_server import LiveServer
from tests.support.media_client import Meeting, PictureTrack, SpeechTrack, speech
from tests.support.speech import word_error_rate

pytestmark = pytest.mark.integration

SENTENCE = "Our next release ships on Friday and the team is very happy with it."


@pytest.fixture
async def ai_meeting(ai_gateway: LiveServer) -> AsyncIterator[Meeting]:
    api = Api(ai_gateway)
    host = await api.user("capthost")
    created = Meeting(api, await api.meeting(host, settings={"ai": True}), host)
    yield created
    for peer in created.peers:
        await peer.close()
    await api.aclose()


async def test_a_speakers_words_reach_the_room_as_captions_and_the_transcript(
    ai_meeting: Meeting,
) -> None:
    speaker = await ai_meeting.join(ai_meeting.host)
    listener = await ai_meeting.join(await ai_meeting.guest("listener"))
    voice = SpeechTrack(speech(SENTENCE))
    await speaker.publish((voice, "microphone"))
    await asyncio.sleep(1.0)  # the tap is attached and has heard some silence
    voice.play()
    caption = await listener.next("caption", seconds=60)
    assert caption["user_id"] == str(ai_meeting.host.id)
    assert caption["display_name"] == speaker.snapshot["me"]["display_name"]
    assert word_error_rate(SENTENCE, caption["text"]) <= 0.15, caption["text"]
    assert caption["language"] == "en"
    assert caption["emotion"]["label"] == "positive"
    assert voice.played_at is not None
    spoken = len(voice.pcm) / 48000
    started = caption["started_at"]
    assert started and caption["ended_at"] > started
    own = await speaker.next("caption", seconds=5)  # the speaker sees their own words too
    assert own["id"] == caption["id"]

    path = f"/api/v1/meetings/{ai_meeting.id}/transcript"
    for _ in range(50):
        lines = (await ai_meeting.host.client.get(path)).json()["lines"]
        if lines:
            break
        await asyncio.sleep(0.1)
    assert [line["id"] for line in lines] == [caption["id"]]
    assert (
        abs((_time(lines[0]["ended_at"]) - _time(lines[0]["started_at"])) - spoken) < 1.0
    )  # the segment spans the speech


def _time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def astronaut() -> npt.NDArray[np.uint8]:
    image: npt.NDArray[np.uint8] = pictures.astronaut()  # type: ignore[no-untyped-call]
    return image


async def test_emotion_cues_follow_the_camera_and_stop_when_refused(ai_meeting: Meeting) -> None:
    smiling = await ai_meeting.join(ai_meeting.host)
    watcher = await ai_meeting.join(await ai_meeting.guest("watcher"))
    await smiling.publish((PictureTrack(astronaut()), "camera"))
    cue = await watcher.next("emotion", seconds=30)
    assert cue["user_id"] == str(ai_meeting.host.id)
    assert cue["label"] == "happy" and cue["score"] > 0.8

    await smiling.send(type="set_emotion_cues", enabled=False)
    await asyncio.sleep(2.0)  # cues in flight may still arrive
    while not watcher.inbox.empty():
        watcher.inbox.get_nowait()
    with pytest.raises(TimeoutError):
        await watcher.next("emotion", seconds=4)
    await smiling.send(type="set_emotion_cues", enabled=True)
    assert (await watcher.next("emotion", seconds=30))["label"] == "happy"


async def test_no_captions_or_cues_when_the_meeting_has_ai_off(ai_gateway: LiveServer) -> None:
    api = Api(ai_gateway)
    host = await api.user("plainhost")
    meeting = Meeting(api, await api.meeting(host), host)
    try:
        speaker = await meeting.join(host)
        listener = await meeting.join(await meeting.guest("plainlistener"))
        voice = SpeechTrack(speech(SENTENCE))
        await speaker.publish((voice, "microphone"), (PictureTrack(astronaut()), "camera"))
        voice.play()
        with pytest.raises(TimeoutError):
            await listener.next("caption", lambda f: True, seconds=12)
        # Turning AI on mid-meeting starts the taps at once.
        await host.client.patch(f"/api/v1/meetings/{meeting.id}", json={"settings": {"ai": True}})
        assert (await listener.next("emotion", seconds=30))["label"] == "happy"
    finally:
        for peer in meeting.peers:
            await peer.close()
        await api.aclose()


async def test_a_hosts_announcement_is_spoken_into_the_room(ai_meeting: Meeting) -> None:
    host = await ai_meeting.join(ai_meeting.host)
    guest_user = await ai_meeting.guest("hearer")
    guest = await ai_meeting.join(guest_user)
    text = "The meeting ends in five minutes, please wrap up."
    await host.send(type="announce", text=text)
    heard = await guest.next("announcement", seconds=30)
    assert heard["text"] == text and heard["user_id"] == str(ai_meeting.host.id)
    assert (await host.next("announcement", seconds=5))["id"] == heard["id"]
    async with httpx.AsyncClient() as client:
        wav = (await client.get(heard["audio_url"])).content
    assert wav[:4] == b"RIFF"
    words = await guest_user.client.post(
        "/api/v1/ai/asr", json={"audio": base64.b64encode(wav).decode(), "language": "en"}
    )
    assert word_error_rate(text, words.json()["text"]) <= 0.15
    await guest.send(type="announce", text="I am not the host")
    refused = await guest.next("error", seconds=10)
    assert refused["code"] == "not_meeting_manager"
