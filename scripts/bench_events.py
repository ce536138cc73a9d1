"""`make bench-events`: events through the outbox relay, Kafka and a consumer.

Starts private PostgreSQL and Kafka (as the tests do). Throughput: fills the outbox with events,
then measures the relay publishing them to Kafka and one consumer group (with the processed-id
check in Redis-less memory) handling them. Latency: commits events one by one at a steady rate
(each wakes the relay, as an API request does) and measures commit -> consumer handling, p50 and
p99. Writes the results into docs/benchmarks.md with the machine and the date.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from meeting_shared.bus.delivery import Deliveries, LoggedDeadLetters
from meeting_shared.bus.kafka import KafkaEventBus
from meeting_shared.bus.outbox import OutboxRelay
from meeting_shared.db.engine import Database
from meeting_shared.db.migrate import upgrade
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.events import Event, UserUpdated
from meeting_shared.settings import Settings
from meeting_shared.state.memory import MemoryStateStore
from scripts.bench_api import machine
from tests.harness.kafka import start_kafka
from tests.harness.postgres import start_postgres

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"
BULK = int(os.environ.get("BENCH_EVENTS", "20000"))
RATE = int(os.environ.get("BENCH_RATE", "200"))  # events per second in the latency run
LATENCY_SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))


def bus(settings: Settings, group: str) -> KafkaEventBus:
    deliveries = Deliveries(group=group, state=MemoryStateStore(), dead_letters=LoggedDeadLetters())
    return KafkaEventBus(settings, deliveries)


async def record(db: Database, count: int, relay: OutboxRelay | None = None) -> None:
    async with db.session() as session:
        uow = UnitOfWork(session, source="bench", on_commit=relay.notify if relay else None)
        for _ in range(count):
            user_id = uuid.uuid4()
            uow.record(UserUpdated(user_id=user_id, fields=["display_name"]))
        await uow.commit()


async def throughput(db: Database, settings: Settings) -> tuple[float, float]:
    """Events per second: the relay alone, then one consumer group alone."""
    for start in range(0, BULK, 1000):
        await record(db, min(1000, BULK - start))
    producer = bus(settings, "bench-producer")
    relay = OutboxRelay(db, producer, batch_size=500)
    started = time.perf_counter()
    published = await relay.drain()
    relay_rate = published / (time.perf_counter() - started)

    consumer = bus(settings, "bench-throughput")
    seen = 0
    done = asyncio.Event()

    async def count(_: Event) -> None:
        nonlocal seen
        seen += 1
        if seen >= published:
            done.set()

    consumer.subscribe("*", count, name="count")
    task = asyncio.create_task(consumer.run())
    started = time.perf_counter()
    await asyncio.wait_for(done.wait(), 300)
    consumer_rate = published / (time.perf_counter() - started)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await producer.aclose()
    await consumer.aclose()
    return relay_rate, consumer_rate


async def latency(db: Database, settings: Settings) -> tuple[list[float], float]:
    """Commit -> handled, in milliseconds, for events committed one by one at RATE per second."""
    settings = settings.model_copy(update={"kafka_topic_prefix": f"lat{uuid.uuid4().hex[:6]}."})
    producer = bus(settings, "bench-latency-producer")
    relay = OutboxRelay(db, producer)
    consumer = bus(settings, "bench-latency")
    latencies: list[float] = []

    async def measure(event: Event) -> None:
        latencies.append((datetime.now(UTC) - event.time).total_seconds() * 1000)

    consumer.subscribe("*", measure, name="measure")
    tasks = [asyncio.create_task(consumer.run()), asyncio.create_task(relay.run())]
    await asyncio.sleep(3)  # the group has joined
    latencies.clear()  # the throughput run's events, if the group saw them
    interval = 1 / RATE
    began = time.perf_counter()
    deadline = began + LATENCY_SECONDS
    next_commit = time.perf_counter()
    sent = 0
    while time.perf_counter() < deadline:
        await record(db, 1, relay)
        sent += 1
        next_commit += interval
        await asyncio.sleep(max(next_commit - time.perf_counter(), 0))
    achieved = sent / (time.perf_counter() - began)
    async with asyncio.timeout(30):
        while True:
            if len(latencies) >= sent:
                break
            await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await producer.aclose()
    await consumer.aclose()
    return sorted(latencies), achieved


def report(relay_rate: float, consumer_rate: float, latencies: list[float], achieved: float) -> str:
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return "\n".join(
        [
            "## Events (Kafka)",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()} by "
            "`make bench-events`: PostgreSQL outbox, one single-node Kafka 4.1 (KRaft) on "
            "loopback, all on this machine.",
            "",
            f"- Relay (outbox → Kafka, batches of 500, idempotent producer): **{relay_rate:,.0f} "
            f"events/s** over {BULK:,} events.",
            f"- One consumer group (parse, processed-id check, handler, commit): "
            f"**{consumer_rate:,.0f} events/s**.",
            f"- End to end, commit → handled by a consumer, events committed one at a time at "
            f"{achieved:.0f} per second for {LATENCY_SECONDS:.0f} s ({len(latencies):,} "
            f"events): **p50 {p50:.1f} ms, p99 {p99:.1f} ms**.",
            "",
        ]
    )


def write_report(section: str) -> None:
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n\n"
    pattern = re.compile(r"## Events \(Kafka\)\n.*?(?=\n## |\Z)", re.DOTALL)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section
    )
    REPORT.write_text(text.rstrip() + "\n")


async def bench(database_url: str, bootstrap: str) -> None:
    settings = Settings(
        environment="test",
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
    )
    db = Database(database_url)
    try:
        relay_rate, consumer_rate = await throughput(db, settings)
        print(f"relay {relay_rate:,.0f} events/s, consumer {consumer_rate:,.0f} events/s")
        latencies, achieved = await latency(db, settings)
        print(
            f"latency p50 {statistics.median(latencies):.1f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.1f} ms"
        )
    finally:
        await db.aclose()
    write_report(report(relay_rate, consumer_rate, latencies, achieved))


def main() -> None:
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="meeting-bench-ev-")))
        database_url = stack.enter_context(start_postgres(work / "pg"))
        bootstrap = stack.enter_context(start_kafka(work / "kafka"))
        upgrade(database_url)
        asyncio.run(bench(database_url, bootstrap))
    print(f"written to {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
