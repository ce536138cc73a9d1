"""One trace from an HTTP request to the consumers of the events it caused, across Kafka, and
one from a media node's speech segment through the AI node and back.

A client sends a W3C ``traceparent``; the gateway's span continues that trace, the event it
records carries it through the outbox and Kafka (in the envelope and as a header), and another
process's consumer (a consumer group of its own, as a media node is) handles the event in a
span of the same trace; the log lines written meanwhile name it too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import uuid
from pathlib import Path

import numpy as np
import pytest

from meeting_shared.bus.delivery import Deliveries, LoggedDeadLetters
from meeting_shared.bus.kafka import KafkaEventBus
from meeting_shared.clock import utcnow
from meeting_shared.events import AsrRequested, Event
from meeting_shared.logging import configure_logging
from meeting_shared.settings import Settings
from meeting_shared.state.memory import MemoryStateStore
from meeting_shared.telemetry import current_trace_id, tracer
from tests.harness.ports import free_port
from tests.harness.seaweedfs import S3Config
from tests.support.ai_nodes import AiNodeProcess
from tests.support.api import Api
from tests.support.databases import private_database, separate_redis_db
from tests.support.live_server import production_settings, start_live_server
from tests.support.speech import espeak_speech

pytestmark = pytest.mark.integration


async def test_a_requests_trace_id_reaches_the_consumer_of_its_event(
    postgres_url: str,
    redis_url: str,
    s3_config: S3Config,
    kafka_bootstrap: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with private_database(postgres_url, "tracing") as database:
        settings = production_settings(
            postgres_url=database,
            redis_url=separate_redis_db(redis_url, 9),
            s3=s3_config,
            data_dir=tmp_path / "gateway",
            port=free_port(),
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        )
        server, stop_server = await start_live_server(settings)
        consumer = KafkaEventBus(
            settings,
            Deliveries(
                group="media-node-like", state=MemoryStateStore(), dead_letters=LoggedDeadLetters()
            ),
        )
        seen: asyncio.Queue[tuple[Event, str | None]] = asyncio.Queue()
        log = logging.getLogger("tests.tracing")

        async def media_node(event: Event) -> None:
            log.warning("handling %s", event.type)
            await seen.put((event, current_trace_id()))

        consumer.subscribe("meeting.created", media_node, name="media")
        consuming = asyncio.create_task(consumer.run())
        root = logging.getLogger()
        saved = root.handlers[:], root.level
        api = Api(server)
        try:
            configure_logging("WARNING")
            host = await api.user("traced")
            trace_id = secrets.token_hex(16)
            parent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
            created = await host.client.post(
                "/api/v1/meetings", json={"title": "Traced"}, headers={"traceparent": parent}
            )
            assert created.status_code == 201, created.text
            async with asyncio.timeout(60):
                while True:
                    event, handled_in = await seen.get()
                    if event.data["meeting_id"] == created.json()["id"]:
                        break
            assert event.traceparent is not None
            assert event.traceparent.split("-")[1] == trace_id  # recorded in the request's span
            assert handled_in == trace_id  # and handled in a span of the same trace
            lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if "{" in x[:1]]
            handled = [x for x in lines if x.get("message") == "handling meeting.created"]
            assert handled and handled[-1]["trace_id"] == trace_id
        finally:
            root.handlers[:], root.level = saved[0], saved[1]
            consuming.cancel()
            await asyncio.gather(consuming, return_exceptions=True)
            await consumer.aclose()
            await api.aclose()
            await stop_server()


async def test_a_speech_segments_trace_runs_through_the_ai_node_and_back(
    ai_node: AiNodeProcess, kafka_bootstrap: str
) -> None:
    """As a media node does: a segment published in a span of its own; the AI node (its own
    process) transcribes it in that trace, and the caption line it sends back carries it on."""
    settings = Settings(
        _env_file=None,
        environment="test",
        jwt_secret=secrets.token_urlsafe(48),
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=ai_node.topic_prefix,
    )
    bus = KafkaEventBus(
        settings,
        Deliveries(group="media-node", state=MemoryStateStore(), dead_letters=LoggedDeadLetters()),
    )
    lines: asyncio.Queue[tuple[Event, str | None]] = asyncio.Queue()

    async def caption(event: Event) -> None:
        await lines.put((event, current_trace_id()))

    bus.subscribe("ai.asr.transcribed", caption, name="captions")
    consuming = asyncio.create_task(bus.run())
    try:
        pcm = (np.clip(espeak_speech("Good morning everyone"), -1, 1) * 32767).astype("<i2")
        segment = AsrRequested(
            meeting_id=uuid.uuid4(),
            segment_id=uuid.uuid4(),
            user_id=uuid.uuid4(),
            node_id="media-a",
            language="en",
            started_at=utcnow(),
            ended_at=utcnow(),
            audio=base64.b64encode(pcm.tobytes()).decode(),
        )
        with tracer.start_as_current_span("speech segment") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            envelope = segment.envelope("sfu")
        await bus.publish([envelope])
        async with asyncio.timeout(120):
            while True:
                event, handled_in = await lines.get()
                if event.data["segment_id"] == str(segment.segment_id):
                    break
        assert "morning" in event.data["text"].lower()
        assert event.traceparent is not None and event.traceparent.split("-")[1] == trace_id
        assert handled_in == trace_id
    finally:
        consuming.cancel()
        await asyncio.gather(consuming, return_exceptions=True)
        await bus.aclose()
