"""The models through a real Triton server on the CPU, called as the system calls them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from meeting_shared.ai.client import AiClient
from meeting_shared.ai.nodes import AiNodeDirectory
from meeting_shared.errors import InvalidInput, Unavailable
from meeting_shared.state.memory import MemoryStateStore
from tests.harness.ports import free_port, free_ports
from tests.support.ai_nodes import AiNodeProcess, ai_node_process
from tests.support.photos import photo
from tests.support.speech import espeak_speech, hibari_speech, word_error_rate

pytestmark = pytest.mark.integration

SENTENCES = [
    "Good morning everyone, let us start with the quarterly budget review.",
    "Please share your screen so that we can see the design together.",
    "I think the new release is ready, but we should test the mobile client first.",
]


def client_for(*urls: str, timeout: float = 30.0) -> AiClient:
    directory = AiNodeDirectory(MemoryStateStore(), list(urls), stale_after=15.0)
    return AiClient(directory, timeout=timeout, retry_after=7)


@pytest.fixture
async def ai(ai_node: AiNodeProcess) -> AsyncIterator[AiClient]:
    client = client_for(ai_node.url)
    yield client
    await client.aclose()


async def test_synthesized_speech_comes_back_as_the_same_words(ai: AiClient) -> None:
    for sentence in SENTENCES:
        result = await ai.transcribe(hibari_speech(sentence), "en")
        assert word_error_rate(sentence, result.text) <= 0.15, result.text
        assert result.language == "en"
        assert result.segments and result.segments[-1].end <= result.duration + 0.5


async def test_espeak_speech_is_recognized_and_its_language_detected(ai: AiClient) -> None:
    errors = []
    for sentence in SENTENCES:
        result = await ai.transcribe(espeak_speech(sentence))  # no language: detected
        errors.append(word_error_rate(sentence, result.text))
        assert result.language == "en"
    assert sum(errors) / len(errors) <= 0.15, errors


async def test_the_synthesis_model_speaks_text_at_the_asked_speed(ai: AiClient) -> None:
    normal, rate = await ai.synthesize("The meeting starts in five minutes.")
    fast, _ = await ai.synthesize("The meeting starts in five minutes.", speed=1.6)
    assert rate == 24000
    assert 1.0 < normal.size / rate < 5.0
    assert fast.size < normal.size * 0.8
    assert float(np.abs(normal).max()) > 0.05  # not silence


async def test_the_astronaut_smiles(ai: AiClient) -> None:
    result = await ai.face_emotions(photo("astronaut"))
    assert len(result.faces) == 1
    face = result.faces[0]
    assert face.emotion == "happy" and face.scores["happy"] > 0.8
    x, y, w, h = face.box
    assert 150 < x + w / 2 < 260 and 60 < y + h / 2 < 170  # her face, top middle of the photo


async def test_a_picture_without_faces_has_no_cues(ai: AiClient) -> None:
    assert (await ai.face_emotions(photo("coffee", "PNG"))).faces == []


async def test_text_cues_follow_the_sentiment(ai: AiClient) -> None:
    happy = await ai.text_emotion("This is great, I love how well the demo went!")
    sad = await ai.text_emotion("The outage was terrible and customers are angry.")
    plain = await ai.text_emotion("The meeting is on Tuesday in room four.")
    assert (happy.label, sad.label, plain.label) == ("positive", "negative", "neutral")
    assert happy.compound > 0.5 > -0.5 > sad.compound


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ai: ai.transcribe(np.zeros(0, np.float32)), "non-empty"),
        (lambda ai: ai.transcribe(np.zeros(16000 * 31, np.float32)), "longer than 30 s"),
        (lambda ai: ai.transcribe(np.full(16000, np.nan, np.float32)), "NaN"),
        (lambda ai: ai.transcribe(np.zeros(16000, np.float32), "klingon"), "unknown language"),
        (lambda ai: ai.face_emotions(b"GIF89a not a photo"), "JPEG or PNG"),
        (lambda ai: ai.text_emotion("   "), "empty"),
        (lambda ai: ai.synthesize("x" * 2001), "longer than 2000"),
        (lambda ai: ai.synthesize("Hello", speed=9.0), "speed"),
    ],
)
async def test_bad_input_is_refused_in_plain_words(ai: AiClient, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as refused:
        await call(ai)
    assert message.lower() in refused.value.detail.lower()


async def test_a_stopped_node_fails_over_to_another_and_none_left_is_503(
    ai_node: AiNodeProcess, tmp_path: Path
) -> None:
    http, grpc, metrics = free_ports(3)
    ports = (http, grpc, metrics)
    with ai_node_process(tmp_path / "second", ports) as second:
        client = client_for(second.url, ai_node.url, timeout=10.0)
        try:
            speech = hibari_speech(SENTENCES[0])
            assert word_error_rate(SENTENCES[0], (await client.transcribe(speech)).text) <= 0.15
            second.kill()  # an outage, not a goodbye
            started = time.monotonic()
            result = await client.transcribe(speech, "en")
            assert word_error_rate(SENTENCES[0], result.text) <= 0.15
            assert time.monotonic() - started < 8.0
        finally:
            await client.aclose()
    dead = client_for(f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}")
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable) as unavailable:
            await dead.text_emotion("hello")
        assert unavailable.value.retry_after == 7
        assert time.monotonic() - started < 5.0
    finally:
        await dead.aclose()


async def test_a_hung_node_times_out_instead_of_hanging(tmp_path: Path) -> None:
    # A listening socket that never answers: the call must give up after the timeout.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = client_for(f"http://127.0.0.1:{port}", timeout=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await client.text_emotion("hello")
        assert time.monotonic() - started < 3.0
    finally:
        await client.aclose()
        server.close()
