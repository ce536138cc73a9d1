"""`make bench-ai`: the AI plane on this machine's CPU (or GPU), as `make run` deploys it.

Starts the gateway in-process on embedded defaults with its AI node (Triton through PyTriton,
every model), then measures through the real paths:

- ASR: real-time factor (compute time / audio length) of Whisper base on synthetic sentences,
  and their word error rate;
- speech synthesis, face emotion and text emotion: latency per request, p50 and p95;
- live captions: two aiortc participants in a meeting with AI on; the speaker says sentences
  with pauses; latency from the end of each sentence (its last sample sent) to the caption frame
  reaching the listener, p50 and p95.

Writes the results into docs/benchmarks.md ("AI (Triton)") with the machine, device and date.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from meeting_shared.ai.client import AiClient
from meeting_shared.ai.nodes import AiNodeDirectory
from meeting_shared.db.migrate import upgrade
from meeting_shared.settings import Settings
from meeting_shared.state.memory import MemoryStateStore
from scripts.bench_api import machine
from tests.harness.ports import free_ports
from tests.support.api import Api
from tests.support.live_server import start_live_server
from tests.support.media_client import Meeting, SpeechTrack, speech
from tests.support.photos import photo
from tests.support.speech import hibari_speech, word_error_rate

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"
REPEAT = int(os.environ.get("BENCH_AI_REPEAT", "20"))
CAPTION_ROUNDS = int(os.environ.get("BENCH_AI_CAPTION_ROUNDS", "3"))
SENTENCES = [
    "Good morning everyone, let us start with the quarterly budget review.",
    "Please share your screen so that we can all see the new design.",
    "I think the release is ready, but we should test the mobile client first.",
    "Could you send the meeting notes to the whole team after lunch?",
    "The customer asked for a demo of the reporting feature next week.",
    "We moved the deadline to the end of the month because of the holidays.",
    "Does anyone have questions about the hiring plan before we move on?",
    "Thanks for joining, I will see all of you again on Thursday.",
]
GENEROUS = "100000/60"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def settings_for(data_dir: Path) -> Settings:
    port, http, grpc, metrics = free_ports(4)
    return Settings(
        _env_file=None,
        environment="test",
        port=port,
        data_dir=data_dir,
        web_dir=data_dir / "no-web",
        ai_model_dir=ROOT / "var" / "models",
        ai_http_port=http,
        ai_grpc_port=grpc,
        ai_metrics_port=metrics,
        ai_node_heartbeat_seconds=1.0,
        ice_host_addresses=["127.0.0.1"],
        jwt_secret=secrets.token_urlsafe(48),
        argon2_time_cost=1,
        argon2_memory_kib=8192,
        argon2_parallelism=1,
        rate_limit_login=GENEROUS,
        rate_limit_register=GENEROUS,
        rate_limit_ai=GENEROUS,
        log_level="WARNING",
    )


async def timed(call: object) -> float:
    started = time.perf_counter()
    await call  # type: ignore[misc]
    return time.perf_counter() - started


async def models(ai: AiClient) -> dict[str, object]:
    audio = [hibari_speech(sentence) for sentence in SENTENCES]
    await ai.transcribe(audio[0], "en")  # warm-up
    factors, errors = [], []
    for sentence, samples in zip(SENTENCES * 2, audio * 2, strict=True):
        started = time.perf_counter()
        result = await ai.transcribe(samples, "en")
        factors.append((time.perf_counter() - started) / (samples.size / 16000))
        errors.append(word_error_rate(sentence, result.text))
    tts = [await timed(ai.synthesize(SENTENCES[i % len(SENTENCES)])) for i in range(REPEAT)]
    picture = photo("astronaut")
    face = [await timed(ai.face_emotions(picture)) for _ in range(REPEAT)]
    text = [await timed(ai.text_emotion(SENTENCES[i % len(SENTENCES)])) for i in range(REPEAT)]
    return {"rtf": factors, "wer": errors, "tts": tts, "face": face, "text": text}


async def captions(api: Api) -> list[float]:
    host = await api.user("benchhost")
    meeting = Meeting(
        api, await api.meeting(host, settings={"ai": True, "ai_language": "en"}), host
    )
    try:
        speaker = await meeting.join(host)
        listener = await meeting.join(await meeting.guest("benchlistener"))
        voice = SpeechTrack(np.zeros(0, np.float32))
        await speaker.publish((voice, "microphone"))
        await asyncio.sleep(1.0)
        latencies = []
        for _ in range(CAPTION_ROUNDS):
            for sentence in SENTENCES:
                voice.say(speech(sentence))
                await voice.playing.wait()
                ended = voice.ended_at
                assert ended is not None

                def last_part(frame: dict[str, Any], end: float = ended) -> bool:
                    # A pause inside a sentence may cut it in two: its last caption is the one
                    # that ends with the sentence (the node pads segments by 0.1 s).
                    return _wall(frame["ended_at"]) > end - 0.5

                caption = await listener.next("caption", last_part, seconds=60)
                arrived = time.time()
                latencies.append(arrived - ended)
                print(f"caption {arrived - ended:.2f} s after the speech: {caption['text']}")
                await asyncio.sleep(1.5)
        return latencies
    finally:
        for peer in meeting.peers:
            await peer.close()


def _wall(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def report(device: str, results: dict[str, object], latencies: list[float]) -> str:
    def ms(values: object) -> str:
        assert isinstance(values, list)
        p50, p95 = statistics.median(values) * 1000, percentile(values, 0.95) * 1000
        return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms"

    rtf = results["rtf"]
    wer = results["wer"]
    assert isinstance(rtf, list) and isinstance(wer, list)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "## AI (Triton)",
            "",
            f"Measured {now} on {machine()}, models on **{device}**, by `make bench-ai`: the "
            "gateway on embedded defaults with its AI node (Triton 2.51 through PyTriton), "
            "everything on this machine.",
            "",
            "- ASR (Whisper base, faster-whisper): real-time factor "
            f"**{statistics.median(rtf):.2f}** "
            f"(p95 {percentile(rtf, 0.95):.2f}) over {len(rtf)} sentences of 3-5 s; word error "
            f"rate {statistics.mean(wer) * 100:.1f} % on synthetic speech.",
            f"- Live captions, end of speech → caption at the listener (aiortc participants, "
            f"{len(latencies)} sentences): **p50 {statistics.median(latencies):.2f} s, p95 "
            f"{percentile(latencies, 0.95):.2f} s** (target on CPU: p50 ≤ 2.0 s).",
            f"- Speech synthesis (hibari, one sentence): {ms(results['tts'])}.",
            f"- Face emotion (512x512 JPEG, detection + classification): {ms(results['face'])}.",
            f"- Text emotion (VADER): {ms(results['text'])}.",
            "",
        ]
    )


def write_report(section: str) -> None:
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n\n"
    pattern = re.compile(r"## AI \(Triton\)\n.*?(?=\n## |\Z)", re.DOTALL)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section
    )
    REPORT.write_text(text.rstrip() + "\n")


async def bench(data_dir: Path) -> None:
    settings = settings_for(data_dir)
    await asyncio.to_thread(upgrade, settings.database_url)  # Alembic runs its own loop
    server, stop = await start_live_server(settings)
    api = Api(server)
    ai = AiClient(
        AiNodeDirectory(
            MemoryStateStore(), [f"http://127.0.0.1:{settings.ai_http_port}"], stale_after=15
        ),
        timeout=60,
        retry_after=5,
    )
    try:
        for _ in range(300):
            health = await ai.health()
            if health and health[0].ready and health[0].models and all(health[0].models.values()):
                break
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError("the AI node did not become ready")
        devices = {
            d for node in await server.container.ai_nodes.live() for d in node.models.values()
        }
        device = "/".join(sorted(devices)) or "cpu"
        results = await models(ai)
        print({k: statistics.median(v) for k, v in results.items() if isinstance(v, list)})
        latencies = await captions(api)
    finally:
        await ai.aclose()
        await api.aclose()
        await stop()
    write_report(report(device, results, latencies))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="meeting-bench-ai-") as directory:
        asyncio.run(bench(Path(directory)))
    print(f"written to {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
