"""One trace from an HTTP request to the consumers of the events it caused, across Kafka.

A client sends a W3C ``traceparent``; the gateway's span continues that trace, the event it
records carries it through the outbox and Kafka (in the envelope and as a header), and another
process's consumer (a consumer group of its own, as a media node is) handles the event in a
span of the same trace; the log lines written meanwhile name it too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from pathlib import Path

import pytest

from meeting_shared.delivery import Deliveries, LoggedDeadLetters
from meeting_shared.events import Event
from meeting_shared.kafka import KafkaEventBus
from meeting_shared.logging import configure_logging
from meeting_shared.state.memory import MemoryStateStore
from meeting_shared.telemetry import current_trace_id
from tests.conftest import (
    Api,
    free_port,
    private_database,
    production_settings,
    separate_redis_db,
    start_live_server,
)
from tests.services import S3Config

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
