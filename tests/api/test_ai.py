"""The ai function over HTTP, on a real AI node (Triton on the CPU)."""

from __future__ import annotations

import asyncio
import base64
import io
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from meeting_functions.http.middleware import API_PREFIX
from tests.harness.ports import free_port
from tests.harness.seaweedfs import S3Config
from tests.support.ai_nodes import AiNodeProcess
from tests.support.api import Api, UserSession
from tests.support.databases import separate_redis_db
from tests.support.live_server import LiveServer, production_settings, start_live_server
from tests.support.photos import photo
from tests.support.speech import hibari_speech, resample, wav_bytes, word_error_rate

pytestmark = pytest.mark.integration

AI = f"{API_PREFIX}/ai"
SENTENCE = "Please send the slides to everyone after the meeting."


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
async def ai_api(live_server: LiveServer, ai_node: AiNodeProcess) -> AsyncIterator[Api]:
    api = Api(live_server)
    yield api
    await api.aclose()


async def test_wav_at_any_rate_and_stereo_is_transcribed(ai_api: Api) -> None:
    user = await ai_api.user("asr")
    mono = resample(hibari_speech(SENTENCE), 16000, 44100)
    stereo = np.repeat(mono.reshape(-1, 1), 2, axis=1)
    pcm = (stereo * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(44100)
        writer.writeframes(pcm.tobytes())
    response = await user.client.post(f"{AI}/asr", json={"audio": b64(out.getvalue())})
    assert response.status_code == 200, response.text
    body = response.json()
    assert word_error_rate(SENTENCE, body["text"]) <= 0.15, body
    assert body["language"] == "en" and body["segments"]


async def test_raw_pcm16_needs_its_rate_and_is_resampled(ai_api: Api) -> None:
    user = await ai_api.user("pcm")
    samples = resample(hibari_speech(SENTENCE), 16000, 48000)
    raw = b64((samples * 32767).astype("<i2").tobytes())
    missing = await user.client.post(f"{AI}/asr", json={"audio": raw, "encoding": "pcm16"})
    assert missing.status_code == 422 and "sample_rate" in missing.text
    response = await user.client.post(
        f"{AI}/asr",
        json={"audio": raw, "encoding": "pcm16", "sample_rate": 48000, "language": "en"},
    )
    assert response.status_code == 200, response.text
    assert word_error_rate(SENTENCE, response.json()["text"]) <= 0.15


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"audio": "%%% not base64 %%%"}, "bad_base64"),
        ({"audio": b64(b"RIFF....WAVEfmt nonsense")}, "bad_audio"),
        ({"audio": b64(wav_bytes(np.zeros(16000 * 31, np.float32), 16000))}, "bad_audio"),
        ({"audio": b64(b"\x00\x01\x02"), "encoding": "pcm16", "sample_rate": 16000}, "bad_audio"),
        ({"audio": b64(b"\x00\x00" * 100), "encoding": "pcm16", "sample_rate": 5}, "bad_audio"),
        ({"audio": b64(wav_bytes(np.zeros(1600, np.float32), 16000)), "language": "x!"}, None),
    ],
)
async def test_bad_audio_gets_a_clear_422(
    ai_api: Api, body: dict[str, object], code: str | None
) -> None:
    user = await ai_api.user("badaudio")
    response = await user.client.post(f"{AI}/asr", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in response.text
    if code is not None:
        assert response.json()["code"] == code, response.text


async def test_synthesis_returns_a_wav_that_speaks_the_text(ai_api: Api) -> None:
    user = await ai_api.user("tts")
    response = await user.client.post(f"{AI}/synthesis", json={"text": SENTENCE})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    wav = response.content
    heard = await user.client.post(f"{AI}/asr", json={"audio": b64(wav), "language": "en"})
    assert word_error_rate(SENTENCE, heard.json()["text"]) <= 0.15
    too_fast = await user.client.post(f"{AI}/synthesis", json={"text": "hi", "speed": 3})
    assert too_fast.status_code == 422


async def test_emotion_of_faces_and_text_and_no_fake_speech_emotion(ai_api: Api) -> None:
    user = await ai_api.user("emotion")
    faces = await user.client.post(f"{AI}/emotion", json={"image": b64(photo("astronaut"))})
    assert faces.status_code == 200, faces.text
    assert faces.json()["kind"] == "face"
    assert faces.json()["faces"][0]["emotion"] == "happy"
    text = await user.client.post(f"{AI}/emotion", json={"text": "I am so happy with this!"})
    assert text.json() == {"kind": "text", "text": text.json()["text"]}
    assert text.json()["text"]["label"] == "positive"
    not_a_picture = await user.client.post(f"{AI}/emotion", json={"image": b64(b"GIF89a....")})
    assert not_a_picture.status_code == 422
    assert not_a_picture.json()["code"] == "emotion_face_rejected"
    both = await user.client.post(f"{AI}/emotion", json={"text": "a", "image": b64(b"x")})
    assert both.status_code == 422
    speech = await user.client.post(
        f"{AI}/emotion", json={"audio": b64(wav_bytes(hibari_speech("Hello"), 16000))}
    )
    assert speech.status_code == 501
    assert speech.json()["code"] == "speech_emotion_not_served"


async def test_a_batch_runs_each_item_on_its_own(ai_api: Api) -> None:
    user = await ai_api.user("batch")
    items = [
        {
            "id": "words",
            "task": "asr",
            "input": {"audio": b64(wav_bytes(hibari_speech(SENTENCE), 16000))},
        },
        {"id": "mood", "task": "emotion", "input": {"text": "This is awful."}},
        {"id": "voice", "task": "synthesis", "input": {"text": "Welcome."}},
        {"id": "broken", "task": "emotion", "input": {"image": "not base64!"}},
        {"id": "malformed", "task": "synthesis", "input": {"speed": 1}},
    ]
    response = await user.client.post(f"{AI}/batch", json={"items": items})
    assert response.status_code == 200, response.text
    results = {item["id"]: item for item in response.json()["results"]}
    assert word_error_rate(SENTENCE, results["words"]["result"]["text"]) <= 0.15
    assert results["mood"]["result"]["text"]["label"] == "negative"
    spoken = base64.b64decode(results["voice"]["result"]["audio"])
    assert spoken[:4] == b"RIFF" and len(spoken) > 10000
    assert results["broken"]["ok"] is False
    assert results["broken"]["problem"]["code"] == "bad_base64"
    assert results["malformed"]["problem"]["status"] == 422
    duplicate = [{"id": "a", "task": "emotion", "input": {"text": "x"}}] * 2
    assert (await user.client.post(f"{AI}/batch", json={"items": duplicate})).status_code == 422
    too_many = [{"id": str(i), "task": "emotion", "input": {"text": "x"}} for i in range(17)]
    assert (await user.client.post(f"{AI}/batch", json={"items": too_many})).status_code == 422


async def test_info_and_health_describe_the_nodes(ai_api: Api) -> None:
    user = await ai_api.user("info")
    info = (await user.client.get(f"{AI}/info")).json()
    models = {model["name"]: model for model in info["models"]}
    assert models["asr"]["nodes"] >= 1 and models["asr"]["devices"] == ["cpu"]
    assert [t["name"] for t in models["synthesis"]["inputs"]] == ["text", "speed"]
    assert models["speech_emotion"]["served"] is False and models["speech_emotion"]["nodes"] == 0
    health = await user.client.get(f"{AI}/health")
    assert health.status_code == 200, health.text
    assert any(node["ready"] and all(node["models"].values()) for node in health.json()["nodes"])


async def test_the_meetings_ai_setup_is_the_meetings_settings(ai_api: Api) -> None:
    host = await ai_api.user("aihost")
    meeting = await ai_api.meeting(host)
    query = {"meeting_id": meeting["id"]}
    assert (await host.client.get(f"{AI}/setup", params=query)).json()["enabled"] is False
    change = {"meeting_id": meeting["id"], "enabled": True, "language": "de"}
    response = await host.client.put(f"{AI}/setup", json=change)
    assert response.json() == {**change, "emotion_cues": True}
    settings = (await host.client.get(f"{API_PREFIX}/meetings/{meeting['id']}")).json()["settings"]
    assert settings["ai"] is True and settings["ai_language"] == "de"
    bad = await host.client.put(f"{AI}/setup", json={**change, "language": "German"})
    assert bad.status_code == 422


async def test_without_nodes_it_is_503_with_retry_after_and_calls_are_rate_limited(
    migrated_postgres: str, redis_url: str, s3_config: S3Config, tmp_path: Path
) -> None:
    settings = production_settings(
        postgres_url=migrated_postgres,
        redis_url=separate_redis_db(redis_url, 5),  # no AI node announces itself here
        s3=s3_config,
        data_dir=tmp_path,
        port=free_port(),
        rate_limit_ai="3/60",
        ai_retry_after_seconds=11,
    )
    server, stop = await start_live_server(settings)
    api = Api(server)
    try:
        user = await api.user("nonode")
        for _ in range(3):
            response = await user.client.post(f"{AI}/emotion", json={"text": "hello"})
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "11"
            assert response.json()["code"] == "service_unavailable"
        limited = await user.client.post(f"{AI}/emotion", json={"text": "hello"})
        assert limited.status_code == 429 and "retry-after" in limited.headers
        health = await user.client.get(f"{AI}/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
    finally:
        await api.aclose()
        await stop()


def speech_of(seconds: float) -> str:
    """base64 WAV of ``seconds`` of speech: the sentence again and again, with pauses."""
    sentence = hibari_speech(SENTENCE)
    pause = np.zeros(8000, np.float32)
    repeats = int(seconds * 16000 // (sentence.size + pause.size)) + 1
    samples = np.tile(np.concatenate([sentence, pause]), repeats)[: int(seconds * 16000)]
    return b64(wav_bytes(samples, 16000))


async def test_speech_is_limited_by_its_seconds_not_by_calls(
    migrated_postgres: str,
    redis_url: str,
    s3_config: S3Config,
    tmp_path: Path,
    ai_node: AiNodeProcess,
) -> None:
    """One person's audio is taken from a budget of seconds per minute (429 with Retry-After);
    a process sends at most AI_ASR_IN_FLIGHT_SECONDS of audio to the nodes at once and refuses
    what cannot start in time with 503 ``asr_busy``, instead of a timeout 30 s later."""
    settings = production_settings(
        postgres_url=migrated_postgres,
        redis_url=redis_url,  # where the node announces itself (and reports what it works on)
        s3=s3_config,
        data_dir=tmp_path,
        port=free_port(),
        rate_limit_asr_audio="30/60",
        ai_asr_in_flight_seconds=30,
        ai_asr_max_wait_seconds=0,  # nothing waits: whatever does not fit now is refused now
        ai_request_timeout_seconds=120,  # the long clip on a busy machine is not the question
        ai_retry_after_seconds=7,
    )
    server, stop = await start_live_server(settings)
    api = Api(server)
    try:
        alice, bob = await api.user("asralice"), await api.user("asrbob")
        spec = (await api.client.get(f"{API_PREFIX}/openapi.json")).json()
        for path in (f"{AI}/asr", f"{AI}/batch"):
            documented = spec["paths"][path]["post"]["responses"]
            assert "asr_busy" in documented["503"]["description"], documented
            assert "RATE_LIMIT_ASR_AUDIO" in documented["429"]["description"], documented

        async def asr(user: UserSession, seconds: float) -> httpx.Response:
            body = {"audio": speech_of(seconds), "language": "en"}
            return await user.client.post(f"{AI}/asr", json=body, timeout=180)

        first = asyncio.create_task(asr(alice, 12))
        deadline = time.monotonic() + 60
        while True:  # until the node reports it works on the first clip
            nodes = (await alice.client.get(f"{AI}/health")).json()["nodes"]
            if any((node["in_flight"] or 0) > 0 for node in nodes):
                break
            assert not first.done(), "the first clip should still be transcribed"
            assert time.monotonic() < deadline, "the node never reported the clip"
            await asyncio.sleep(0.2)

        # Alice has 18 of her 30 seconds left: 20 more are refused, with the exact wait.
        over_budget = await asr(alice, 20)
        assert over_budget.status_code == 429, over_budget.text
        assert over_budget.json()["code"] == "rate_limited"
        assert 1 <= int(over_budget.headers["retry-after"]) <= 60
        # Bob has his budget, but 12 + 20 seconds do not fit in the 30 this server sends out.
        busy = await asr(bob, 20)
        assert busy.status_code == 503, busy.text
        assert busy.json()["code"] == "asr_busy"
        assert busy.headers["retry-after"] == "7"

        done = await asyncio.wait_for(first, 180)
        assert done.status_code == 200, done.text
        assert "slides" in done.json()["text"].lower()
        again = await asr(bob, 3)  # the line is free again
        assert again.status_code == 200, again.text

        items = [
            {"id": "fits", "task": "asr", "input": {"audio": speech_of(4), "language": "en"}},
            {"id": "over", "task": "asr", "input": {"audio": speech_of(29), "language": "en"}},
        ]
        batch = await bob.client.post(f"{AI}/batch", json={"items": items}, timeout=180)
        results = {item["id"]: item for item in batch.json()["results"]}
        assert results["fits"]["ok"], results
        assert results["over"]["problem"]["status"] in (429, 503), results
        assert results["over"]["problem"]["retry_after"] >= 1, results
    finally:
        await api.aclose()
        await stop()
