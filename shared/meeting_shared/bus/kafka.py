"""The event bus on Apache Kafka (aiokafka): what links the functions and the long-lived nodes.

Domain events travel on one topic, ``<prefix>events``, keyed by meeting or user, so that the
events of one meeting (or one user) stay in order for every consumer. Streams (speech on its way to
captions, and the captions back) have topics of their own, ``<prefix><stream>``: a process reads
a stream's topic only when one of its consumers wants that stream. The producer is idempotent (a
retried send is not written twice). Each process consumes with one group: the gateway's workers
share ``<prefix>gateway`` (each event is handled by one of them), every media node has a group of
its own (each node must see every removal and every end). Offsets are committed after the
process's consumers ran, so a crash means a redelivery, which the processed-id check absorbs.
Events that cannot be handled are parked on ``<prefix>events.dlq`` and in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from pydantic import ValidationError

from meeting_shared.bus.delivery import Deliveries
from meeting_shared.bus.port import EventHandler
from meeting_shared.errors import Unavailable
from meeting_shared.events import Event, EventData, stream_of
from meeting_shared.settings import Settings

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10.0
PARTITIONS = 6  # per-key order is all consumers need; partitions let a group's workers share


def topics(settings: Settings) -> tuple[str, str]:
    """The events topic and its dead-letter topic."""
    return f"{settings.kafka_topic_prefix}events", f"{settings.kafka_topic_prefix}events.dlq"


def stream_topics(settings: Settings) -> dict[str, str]:
    """Every stream's topic, by event type."""
    return {
        event_type: f"{settings.kafka_topic_prefix}{stream}"
        for event_type in EventData.registry
        if (stream := stream_of(event_type)) is not None
    }


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options for an external cluster: brokers, TLS, SASL."""
    options: dict[str, Any] = {
        "bootstrap_servers": [
            s.strip() for s in settings.kafka_bootstrap_servers.split(",") if s.strip()
        ],
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile or None)
        options["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


class KafkaEventBus:
    def __init__(
        self,
        settings: Settings,
        deliveries: Deliveries,
        *,
        from_beginning: bool = True,
    ) -> None:
        self.settings = settings
        self.deliveries = deliveries
        self.topic, self.dlq_topic = topics(settings)
        self.stream_topics = stream_topics(settings)
        self._options = client_options(settings)
        # A new group starts at the beginning (the audit log wants every event), except where
        # only what happens from now on matters (a media node acting on live rooms).
        self._from_beginning = from_beginning
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._topics_ready = False

    async def ensure_topics(self) -> None:
        """Create the topics when the cluster lacks them (brokers may not auto-create)."""
        if self._topics_ready:
            return
        admin = AIOKafkaAdminClient(**self._options)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            wanted = (self.topic, self.dlq_topic, *sorted(set(self.stream_topics.values())))
            missing = [t for t in wanted if t not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):  # another process was first
                    await admin.create_topics(
                        [
                            NewTopic(t, PARTITIONS, self.settings.kafka_replication_factor)
                            for t in missing
                        ]
                    )
        finally:
            await admin.close()
        self._topics_ready = True

    # --- producing ---------------------------------------------------------------------------

    async def _started_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                await self.ensure_topics()
                producer = AIOKafkaProducer(
                    **self._options,
                    enable_idempotence=True,  # implies acks=all
                    linger_ms=5,
                    request_timeout_ms=int(SEND_TIMEOUT_SECONDS * 1000),
                )
                try:
                    await producer.start()
                except Exception:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def publish(self, events: Sequence[Event]) -> None:
        """Hand ``events`` to Kafka in order; raises ``Unavailable`` unless all were written."""
        if not events:
            return
        try:
            producer = await self._started_producer()
            sent = [
                await producer.send(
                    self.stream_topics.get(event.type, self.topic),
                    value=event.model_dump_json().encode(),
                    key=event.key.encode(),
                    headers=_headers(event),
                )
                for event in events
            ]
            await asyncio.wait_for(asyncio.gather(*sent), SEND_TIMEOUT_SECONDS)
        except (KafkaError, OSError, TimeoutError, ConnectionError) as exc:
            await self._drop_producer()
            raise Unavailable(f"Kafka did not take the events: {exc}") from exc

    async def _drop_producer(self) -> None:
        async with self._producer_lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def park(self, consumer: str, event: Event | None, raw: Any, error: str) -> None:
        """Mirror a dead letter onto the DLQ topic (the database keeps the listable copy)."""
        producer = await self._started_producer()
        body = event.model_dump_json() if event is not None else json.dumps({"raw": str(raw)})
        await producer.send_and_wait(
            self.dlq_topic,
            value=body.encode(),
            key=(event.key if event is not None else consumer).encode(),
            headers=[("consumer", consumer.encode()), ("error", error[:500].encode())],
        )

    # --- consuming ---------------------------------------------------------------------------

    def subscribe(self, pattern: str, handler: EventHandler, name: str | None = None) -> None:
        self.deliveries.subscribe(pattern, handler, name)

    async def run(self) -> None:
        """Consume for this process's consumers until cancelled; reconnects after outages."""
        backoff = 0.5
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Kafka consumer stopped; reconnecting", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15.0)

    def consumed_topics(self) -> list[str]:
        """The topics this process's consumers need: domain events and the streams they want."""
        wanted = {
            self.stream_topics.get(event_type, self.topic)
            for event_type in EventData.registry
            if self.deliveries.wants(event_type)
        }
        return sorted(wanted)

    def assignment(self) -> frozenset[tuple[str, int]]:
        """The (topic, partition) pairs this process consumes now: empty until it joined its
        group, and while the group rebalances."""
        consumer = self._consumer
        if consumer is None:
            return frozenset()
        return frozenset((tp.topic, tp.partition) for tp in consumer.assignment())

    async def _consume(self) -> None:
        await self.ensure_topics()
        topics = self.consumed_topics()
        if not topics:
            await asyncio.Event().wait()  # nothing to consume here: idle until cancelled
        consumer = AIOKafkaConsumer(
            *topics,
            **self._options,
            group_id=self.deliveries.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self._from_beginning else "latest",
            isolation_level="read_committed",
        )
        try:  # a start that fails half-way has started tasks too: stop in every case
            await consumer.start()
            self._consumer = consumer
            while True:
                # A batch at a time, committed once handled: one commit round trip per batch, not
                # per event (a crash redelivers the batch; the processed ids absorb that).
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for messages in batches.values():
                    for message in messages:
                        await self._handle(message.value)
                if batches:
                    await consumer.commit()
        finally:
            self._consumer = None
            await _stop_consumer(consumer)

    async def _handle(self, value: bytes | None) -> None:
        try:
            event = Event.model_validate_json(value or b"")
        except ValidationError as exc:
            await self.deliveries.park_unreadable(value, f"not an event: {exc.errors()[:1]}")
            return
        await self.deliveries.deliver(event)

    async def aclose(self) -> None:
        await self._drop_producer()


def _headers(event: Event) -> list[tuple[str, bytes]]:
    """The type, and the W3C trace context as tools that read Kafka headers expect it."""
    headers = [("type", event.type.encode())]
    if event.traceparent:
        headers.append(("traceparent", event.traceparent.encode()))
    return headers


async def _stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stop ``consumer``; when that fails or is cut short (leaving the group waits on a broker
    that may be down, and a stopping process cancels the wait), close its client anyway, or the
    client's metadata task runs on after the bus is gone."""
    try:
        await consumer.stop()
    except Exception:
        await consumer._client.close()  # aiokafka gives no public handle on it
    except asyncio.CancelledError:
        await consumer._client.close()
        raise
