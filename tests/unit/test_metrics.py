"""The meeting_* metrics count what happened: the media node's numbers come from its own
counters at scrape time, and consumers and AI calls are counted by outcome."""

from __future__ import annotations

import gc
import uuid

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from meeting_shared import metrics
from meeting_shared.ai.client import AiClient
from meeting_shared.ai.nodes import AiNodeDirectory
from meeting_shared.bus.delivery import Deliveries, LoggedDeadLetters
from meeting_shared.bus.local import InProcessEventBus
from meeting_shared.errors import Unavailable
from meeting_shared.events import Event, UserRegistered
from meeting_shared.state.memory import MemoryStateStore

pytestmark = pytest.mark.unit


class FakeNode:
    """A media node as the collector sees it."""

    def __init__(self, stats: metrics.ForwardingStats) -> None:
        self.stats = stats

    def forwarding_stats(self) -> metrics.ForwardingStats:
        return self.stats


def scrape(collector: metrics.MediaNodeCollector) -> dict[tuple[str, tuple[str, ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        (sample.name, tuple(sorted(sample.labels.values()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def test_media_nodes_are_read_when_scraped_and_summed_by_node_id() -> None:
    collector = metrics.MediaNodeCollector()
    first = FakeNode(
        metrics.ForwardingStats(
            node_id="media-1",
            rooms=2,
            participants=5,
            published_tracks={"camera": 3, "microphone": 4, "screen": 0},
            forwarded_streams=12,
            packets_forwarded=1000,
            bytes_forwarded=900_000,
        )
    )
    second = FakeNode(metrics.ForwardingStats(node_id="media-1", rooms=1, packets_forwarded=10))
    other = FakeNode(metrics.ForwardingStats(node_id="media-2", participants=1))
    for node in (first, second, other):
        collector.watch(node)

    samples = scrape(collector)
    assert samples[("meeting_media_rooms", ("media-1",))] == 3
    assert samples[("meeting_media_participants", ("media-1",))] == 5
    assert samples[("meeting_media_participants", ("media-2",))] == 1
    assert samples[("meeting_media_published_tracks", ("camera", "media-1"))] == 3
    assert samples[("meeting_media_forwarded_packets_total", ("media-1",))] == 1010
    assert samples[("meeting_media_forwarded_bytes_total", ("media-1",))] == 900_000

    first.stats = metrics.ForwardingStats(node_id="media-1", packets_forwarded=5000)
    assert scrape(collector)[("meeting_media_forwarded_packets_total", ("media-1",))] == 5010


def test_a_stopped_node_drops_out_of_the_metrics() -> None:
    collector = metrics.MediaNodeCollector()
    node = FakeNode(metrics.ForwardingStats(node_id="gone", rooms=1))
    collector.watch(node)
    assert ("meeting_media_rooms", ("gone",)) in scrape(collector)
    del node
    gc.collect()
    assert ("meeting_media_rooms", ("gone",)) not in scrape(collector)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_consumers_are_counted_by_outcome() -> None:
    deliveries = Deliveries(
        group=f"metrics-{uuid.uuid4().hex[:8]}",
        state=MemoryStateStore(),
        dead_letters=LoggedDeadLetters(),
        backoff=(0.0,),  # one retry, at once
    )
    bus = InProcessEventBus(deliveries)

    async def welcome(event: Event) -> None:
        return None

    async def broken(event: Event) -> None:
        raise RuntimeError("this consumer has a bug")

    bus.subscribe(UserRegistered.event_type, welcome, name="welcome")
    bus.subscribe(UserRegistered.event_type, broken, name="broken")
    good, bad = f"{deliveries.group}:welcome", f"{deliveries.group}:broken"

    event = UserRegistered(user_id=uuid.uuid4(), username="ada").envelope("test")
    await bus.publish([event])
    assert value("meeting_events_handled_total", consumer=good) == 1
    assert value("meeting_events_failed_total", consumer=bad) == 2  # the try and the retry
    assert value("meeting_events_dead_lettered_total", consumer=bad) == 1
    assert value("meeting_events_handled_total", consumer=bad) == 0

    await bus.publish([event])  # a redelivery: skipped where handled, tried again where not
    assert value("meeting_events_handled_total", consumer=good) == 1
    assert value("meeting_events_dead_lettered_total", consumer=bad) == 2


async def test_ai_calls_that_no_node_answers_count_as_unavailable() -> None:
    directory = AiNodeDirectory(MemoryStateStore(), [], stale_after=15)
    client = AiClient(directory, timeout=1, retry_after=5)
    before = value("meeting_ai_requests_total", model="emotion_text", outcome="unavailable")
    with pytest.raises(Unavailable):
        await client.text_emotion("what a lovely meeting")
    after = value("meeting_ai_requests_total", model="emotion_text", outcome="unavailable")
    assert after == before + 1
    assert value("meeting_ai_request_duration_seconds_count", model="emotion_text") >= 1
    await client.aclose()


def test_the_default_registry_exposes_the_media_metrics() -> None:
    assert b"# TYPE meeting_media_forwarded_packets_total counter" in generate_latest(REGISTRY)
