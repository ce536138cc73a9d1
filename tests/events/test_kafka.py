"""The event backbone on a real Kafka (KRaft, single node): no event lost, none applied twice."""

from __future__ import annotations

import asyncio
import secrets
import types
import typing
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from meeting_shared.bus.delivery import (
    DatabaseDeadLetters,
    Deliveries,
    LoggedDeadLetters,
    replay_dead_letter,
)
from meeting_shared.bus.kafka import KafkaEventBus
from meeting_shared.bus.outbox import OutboxRelay
from meeting_shared.clock import utcnow
from meeting_shared.db.engine import Database
from meeting_shared.db.models import AuditEntry, DeadLetter
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.events import Event, EventData, UserRegistered
from meeting_shared.services.audit import AuditLog
from meeting_shared.settings import Settings
from meeting_shared.state.memory import MemoryStateStore
from tests.harness.kafka import start_kafka
from tests.harness.ports import free_port
from tests.harness.seaweedfs import S3Config
from tests.support.api import Api
from tests.support.databases import private_database, separate_redis_db
from tests.support.live_server import production_settings, start_live_server
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def _value(annotation: Any) -> Any:
    """A plausible value of a field's type (events are plain data: a few types suffice)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _value(next(a for a in typing.get_args(annotation) if a is not type(None)))
    if origin is typing.Literal:
        return typing.get_args(annotation)[0]
    if origin is list:
        return [_value(typing.get_args(annotation)[0])]
    if origin is dict:
        return {"k": "v"}
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation))
    return {
        uuid.UUID: uuid.uuid4(),
        str: "text",
        int: 3,
        float: 1.5,
        bool: True,
        datetime: utcnow(),
    }[annotation]


def sample(cls: type[EventData]) -> EventData:
    values = {name: _value(field.annotation) for name, field in cls.model_fields.items()}
    return cls.model_validate(values)


def kafka_settings(bootstrap: str, **overrides: Any) -> Settings:
    return Settings(
        environment="test",
        jwt_secret=secrets.token_urlsafe(48),
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_prefix=f"t{uuid.uuid4().hex[:8]}.",  # each test its own topics
        **overrides,
    )


def bus(settings: Settings, group: str, db: Database | None = None) -> KafkaEventBus:
    """A Kafka bus for one consumer group; with ``db``, dead letters go to the table and the
    DLQ topic as in production."""
    dead_letters = DatabaseDeadLetters(db) if db is not None else LoggedDeadLetters()
    deliveries = Deliveries(
        group=group, state=MemoryStateStore(), dead_letters=dead_letters, backoff=(0.01, 0.02)
    )
    kafka = KafkaEventBus(settings, deliveries)
    if isinstance(dead_letters, DatabaseDeadLetters):
        dead_letters.mirrors.append(kafka.park)
    return kafka


class Collected:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.arrived = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.arrived.set()

    async def until(self, count: int, seconds: float = 30.0) -> list[Event]:
        async with asyncio.timeout(seconds):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events


@pytest.fixture(scope="module")
def events_postgres(postgres_url: str) -> Iterator[str]:
    """A database of the module's own: the live test server's relay polls the shared one and
    would publish these tests' outbox events itself."""
    with private_database(postgres_url, "meeting_events") as url:
        yield url


@pytest.fixture
async def database(events_postgres: str) -> AsyncIterator[Database]:
    db = Database(events_postgres)
    yield db
    await db.aclose()


async def run_consumer(kafka: KafkaEventBus) -> asyncio.Task[None]:
    return asyncio.create_task(kafka.run())


async def stop(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_every_event_type_round_trips_in_order_per_key(kafka_bootstrap: str) -> None:
    settings = kafka_settings(kafka_bootstrap)
    producer, consumer = bus(settings, "producer"), bus(settings, "consumer")
    collected = Collected()
    consumer.subscribe("*", collected, name="all")
    task = await run_consumer(consumer)
    try:
        events = [sample(cls).envelope("test") for cls in EventData.registry.values()]
        assert len(events) >= 20  # users, meetings, participants, chat, media, ...
        await producer.publish(events)
        received = await collected.until(len(events))
        assert {e.id: e for e in received} == {e.id: e for e in events}  # nothing lost or changed
        for key in {e.key for e in events}:  # per key, the publish order holds
            assert [e.id for e in received if e.key == key] == [
                e.id for e in events if e.key == key
            ]
    finally:
        await stop(task)
        await producer.aclose()
        await consumer.aclose()


async def _record_users(db: Database, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    async with db.session() as session:
        uow = UnitOfWork(session, source="test")
        for user_id in ids:
            uow.record(UserRegistered(user_id=user_id, username=f"u{user_id.hex[:10]}"))
        await uow.commit()
    return ids


class CrashingBus:
    """Hands the first ``survive`` events of a batch to Kafka, then dies (a relay crash)."""

    def __init__(self, inner: KafkaEventBus, survive: int) -> None:
        self.inner = inner
        self.survive = survive

    async def publish(self, events: Sequence[Event]) -> None:
        await self.inner.publish(events[: self.survive])
        raise RuntimeError("the relay process died here")


async def test_a_relay_killed_mid_batch_loses_nothing_and_consumers_apply_once(
    kafka_bootstrap: str, database: Database
) -> None:
    settings = kafka_settings(kafka_bootstrap)
    await OutboxRelay(database, bus(settings, "drain")).drain()  # earlier tests' events
    audit_bus = bus(settings, "audit", database)
    AuditLog(database).subscribe(audit_bus)
    task = await run_consumer(audit_bus)
    producer = bus(settings, "relay")
    try:
        ids = await _record_users(database, 40)
        crashing = OutboxRelay(database, CrashingBus(producer, survive=15), batch_size=40)  # type: ignore[arg-type]
        with pytest.raises(RuntimeError):
            await crashing.publish_pending()  # 15 reached Kafka, none were marked published
        assert await OutboxRelay(database, producer).drain() >= 40  # the restarted relay

        async def recorded_at_least(count: int) -> bool:
            return await recorded() >= count

        async def recorded() -> int:
            subjects = [str(user_id) for user_id in ids]  # this test's events only
            query = select(func.count()).where(AuditEntry.subject_id.in_(subjects))
            async with database.read_session() as session:
                return int(await session.scalar(query) or 0)

        await eventually(lambda: recorded_at_least(40), seconds=30)
        await asyncio.sleep(1.0)  # the 15 redelivered events have arrived too by now
        assert await recorded() == 40  # each event applied once, though 15 came twice
    finally:
        await stop(task)
        await producer.aclose()
        await audit_bus.aclose()


async def test_a_poison_event_is_parked_and_replays_after_the_fix(
    kafka_bootstrap: str, database: Database
) -> None:
    settings = kafka_settings(kafka_bootstrap)
    consumer = bus(settings, "fragile", database)
    broken = True
    handled: list[uuid.UUID] = []

    async def fragile(event: Event) -> None:
        if broken:
            raise ValueError("cannot handle this yet")
        handled.append(event.id)

    consumer.subscribe("user.*", fragile, name="fragile")
    dlq = bus(settings, "dlq-reader")
    dlq.topic = dlq.dlq_topic  # read the dead-letter topic
    parked_on_topic = Collected()
    dlq.subscribe("*", parked_on_topic, name="read")
    tasks = [await run_consumer(consumer), await run_consumer(dlq)]
    producer = bus(settings, "producer")
    try:
        poison = UserRegistered(user_id=uuid.uuid4(), username="poison").envelope("test")
        await producer.publish([poison])
        (on_topic,) = await parked_on_topic.until(1)
        assert on_topic.id == poison.id
        async with database.read_session() as session:
            letter = await session.scalar(
                select(DeadLetter).where(DeadLetter.event_id == poison.id)
            )
        assert letter is not None and letter.consumer == "fragile:fragile"
        assert "cannot handle this yet" in letter.error and letter.attempts == 3

        broken = False  # the fix is deployed; an admin replays
        await replay_dead_letter(database, producer, letter.id)
        await eventually(lambda: bool(handled), seconds=15)
        assert handled == [poison.id]
    finally:
        await stop(*tasks)
        for kafka in (producer, consumer, dlq):
            await kafka.aclose()


async def test_the_api_works_while_kafka_is_down_and_events_flow_when_it_is_back(
    postgres_url: str, redis_url: str, s3_config: S3Config, tmp_path: Path
) -> None:
    # A database of its own: the session server's relay would otherwise publish this server's
    # outbox to its in-process consumers while Kafka is down here.
    with private_database(postgres_url, "kafkadown") as database:
        await _api_without_kafka(database, redis_url, s3_config, tmp_path)


async def _api_without_kafka(
    database_url: str, redis_url: str, s3_config: S3Config, tmp_path: Path
) -> None:
    broker, controller = free_port(), free_port()
    settings = production_settings(
        postgres_url=database_url,
        redis_url=separate_redis_db(redis_url, 4),
        s3=s3_config,
        data_dir=tmp_path / "gateway",
        port=free_port(),
        kafka_bootstrap_servers=f"127.0.0.1:{broker}",
        kafka_topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
    )
    server, stop_server = await start_live_server(settings)
    api = Api(server)
    try:
        user = await api.user("while_kafka_is_down")  # register + login: 2xx without Kafka
        assert user.id
        db = server.container.db

        async def audited(user_id: uuid.UUID) -> bool:
            async with db.read_session() as session:
                found = await session.scalar(
                    select(AuditEntry).where(
                        AuditEntry.action == "user.registered",
                        AuditEntry.subject_id == str(user_id),
                    )
                )
            return found is not None

        assert not await audited(user.id)
        with start_kafka(tmp_path / "kafka", ports=(broker, controller)):
            later = await api.user("after_kafka_is_back")  # its commit wakes the relay
            await eventually(lambda: audited(user.id), seconds=45)  # the consumer backs off
            await eventually(lambda: audited(later.id), seconds=15)
    finally:
        await api.aclose()
        await stop_server()
