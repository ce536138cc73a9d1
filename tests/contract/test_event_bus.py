"""The ``EventBus`` contract, run against the in-process and the Kafka (real broker) adapters.

What both promise (``meeting_shared.bus.delivery``): an event reaches every consumer whose
pattern matches; the events of one key arrive in publish order; a consumer handles an event once
however often it arrives, and so does a consumer group whose workers share a state store; a
failing handler is retried, then the event is parked as a dead letter without holding back the
other consumers, and publishing it again (a replay) reaches only the consumer that failed.

A ``Deployment`` stands for the processes of one deployment: ``bus`` is one process's bus (its
consumer group, its state store), ``publish`` is the outbox relay handing events over. With
Kafka the relay writes once to the broker; in-process, every process's own relay or outbox feed
publishes to its own bus, so every bus of the deployment is handed the events.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

import pytest

from meeting_shared.bus import EventBus
from meeting_shared.bus.delivery import Deliveries, LoggedDeadLetters
from meeting_shared.bus.kafka import KafkaEventBus
from meeting_shared.bus.local import InProcessEventBus
from meeting_shared.clock import utcnow
from meeting_shared.events import Event, MeetingCreated, UserRegistered
from meeting_shared.settings import Settings
from meeting_shared.state import StateStore
from meeting_shared.state.memory import MemoryStateStore

pytestmark = pytest.mark.contract

BACKOFF = (0.01, 0.02)  # three attempts in all
WAIT_SECONDS = 30.0  # a Kafka consumer joins its group and reads from the beginning within this


class Deployment(Protocol):
    def bus(
        self, group: str, *, state: StateStore | None = None, dead_letters: LoggedDeadLetters
    ) -> EventBus: ...

    async def publish(self, events: Sequence[Event]) -> None: ...

    async def settled(self) -> None:
        """Wait (bounded) until every consumer is in place (a Kafka group has rebalanced)."""
        ...


class Buses:
    """What both deployments share: the buses made, their consumer loops, their closing."""

    def __init__(self) -> None:
        self.made: list[EventBus] = []
        self.tasks: list[asyncio.Task[None]] = []

    def deliveries(
        self, group: str, state: StateStore | None, dead_letters: LoggedDeadLetters
    ) -> Deliveries:
        return Deliveries(
            group=group,
            state=state if state is not None else MemoryStateStore(),
            dead_letters=dead_letters,
            backoff=BACKOFF,
        )

    def started(self, bus: EventBus) -> EventBus:
        self.made.append(bus)
        self.tasks.append(asyncio.create_task(bus.run()))
        return bus

    async def aclose(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for bus in self.made:
            await bus.aclose()


class InProcessDeployment(Buses):
    def bus(
        self, group: str, *, state: StateStore | None = None, dead_letters: LoggedDeadLetters
    ) -> EventBus:
        return self.started(InProcessEventBus(self.deliveries(group, state, dead_letters)))

    async def publish(self, events: Sequence[Event]) -> None:
        for bus in self.made:
            await bus.publish(events)

    async def settled(self) -> None:
        return  # subscribing is all it takes


class KafkaDeployment(Buses):
    def __init__(self, bootstrap: str) -> None:
        super().__init__()
        self.settings = Settings(
            environment="test",
            jwt_secret=secrets.token_urlsafe(48),
            kafka_bootstrap_servers=bootstrap,
            kafka_topic_prefix=f"c{uuid.uuid4().hex[:8]}.",  # each test its own topics
        )
        self._relay: KafkaEventBus | None = None

    def bus(
        self, group: str, *, state: StateStore | None = None, dead_letters: LoggedDeadLetters
    ) -> EventBus:
        deliveries = self.deliveries(group, state, dead_letters)
        return self.started(KafkaEventBus(self.settings, deliveries))

    async def publish(self, events: Sequence[Event]) -> None:
        if self._relay is None:
            self._relay = KafkaEventBus(self.settings, self.deliveries("relay", None, dead()))
            self.made.append(self._relay)
        await self._relay.publish(events)

    async def settled(self) -> None:
        consumers = [
            bus
            for bus in self.made
            if isinstance(bus, KafkaEventBus) and bus.deliveries.subscriptions
        ]
        await until(lambda: all(bus.assignment() for bus in consumers))


async def until(check: Callable[[], bool]) -> None:
    """Wait (bounded) until ``check`` holds (polling: what it watches has no event to wait on)."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            if check():
                return
            await asyncio.sleep(0.02)


def dead() -> LoggedDeadLetters:
    return LoggedDeadLetters()


@pytest.fixture(params=["in-process", "kafka"])
async def deployment(request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    made: InProcessDeployment | KafkaDeployment
    if request.param == "in-process":
        made = InProcessDeployment()
    else:
        # Looked up lazily so the in-process half runs even where Kafka is missing.
        made = KafkaDeployment(request.getfixturevalue("kafka_bootstrap"))
    yield made
    await made.aclose()


class Handled:
    """A consumer that remembers what it handled; ``failures`` first attempts raise."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[Event] = []
        self.attempts = 0
        self.failures = failures
        self._arrived = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise RuntimeError("not yet")
        self.events.append(event)
        self._arrived.set()

    @property
    def ids(self) -> list[uuid.UUID]:
        return [event.id for event in self.events]

    async def until(self, *wanted: Event) -> None:
        """Wait (bounded) until every one of ``wanted`` was handled."""
        async with asyncio.timeout(WAIT_SECONDS):
            while not {event.id for event in wanted} <= set(self.ids):
                self._arrived.clear()
                await self._arrived.wait()


class Parked:
    """Waits (bounded) for dead letters in a logged sink."""

    def __init__(self, sink: LoggedDeadLetters) -> None:
        self.sink = sink

    async def until(self, count: int) -> list[tuple[str, Event | None, str]]:
        await until(lambda: len(self.sink.parked) >= count)
        return self.sink.parked


def registered(user_id: uuid.UUID | None = None) -> Event:
    data = UserRegistered(user_id=user_id or uuid.uuid4(), username="someone")
    return data.envelope("test")


def meeting_created() -> Event:
    data = MeetingCreated(
        meeting_id=uuid.uuid4(), host_id=uuid.uuid4(), title="standup", start_time=utcnow()
    )
    return data.envelope("test")


class TestEventBusContract:
    async def test_an_event_reaches_every_consumer_whose_pattern_matches(
        self, deployment: Deployment
    ) -> None:
        bus = deployment.bus("app", dead_letters=dead())
        users, meetings, everything = Handled(), Handled(), Handled()
        bus.subscribe("user.*", users, name="users")
        bus.subscribe("meeting.created", meetings, name="meetings")
        bus.subscribe("*", everything, name="everything")
        user, meeting = registered(), meeting_created()
        await deployment.publish([user, meeting])
        await everything.until(user, meeting)
        await users.until(user)
        await meetings.until(meeting)
        assert users.ids == [user.id] and meetings.ids == [meeting.id]
        assert users.events == [user]  # the envelope arrives as it was published

    async def test_the_events_of_one_key_arrive_in_publish_order(
        self, deployment: Deployment
    ) -> None:
        bus = deployment.bus("app", dead_letters=dead())
        handled = Handled()
        bus.subscribe("user.*", handled, name="ordered")
        keys = [uuid.uuid4() for _ in range(3)]
        events = [registered(keys[i % 3]) for i in range(30)]
        await deployment.publish(events[:10])
        await deployment.publish(events[10:])
        await handled.until(*events)
        for key in keys:
            published = [e.id for e in events if e.key == str(key)]
            assert [e.id for e in handled.events if e.key == str(key)] == published

    async def test_an_event_that_comes_again_is_handled_once_by_each_consumer(
        self, deployment: Deployment
    ) -> None:
        bus = deployment.bus("app", dead_letters=dead())
        first, second = Handled(), Handled()
        bus.subscribe("user.*", first, name="first")
        bus.subscribe("user.*", second, name="second")
        user_id = uuid.uuid4()
        event, later = registered(user_id), registered(user_id)  # one key: later comes last
        await deployment.publish([event, event])  # a relay retry within a batch
        await deployment.publish([event, later])  # and in the next one
        await first.until(later)
        await second.until(later)
        assert first.ids == second.ids == [event.id, later.id]

    async def test_the_workers_of_one_group_share_what_they_handled_other_groups_get_all(
        self, deployment: Deployment
    ) -> None:
        shared = MemoryStateStore()  # a deployment's workers share one state store (Redis)
        one, two, other = Handled(), Handled(), Handled()
        for handler, group, state in ((one, "app", shared), (two, "app", shared)):
            deployment.bus(group, state=state, dead_letters=dead()).subscribe(
                "user.*", handler, name="mails"
            )
        deployment.bus("audit", dead_letters=dead()).subscribe("user.*", other, name="mails")
        await deployment.settled()  # both workers of the group hold partitions
        events = [registered() for _ in range(12)]
        await deployment.publish(events)
        await deployment.publish(events[:4])  # redelivered
        await other.until(*events)
        await until(lambda: len(one.ids) + len(two.ids) >= len(events))
        await asyncio.sleep(0.5)  # any second delivery to the group would have happened now
        assert sorted(one.ids + two.ids) == sorted(e.id for e in events)  # each once
        assert sorted(other.ids) == sorted(e.id for e in events)

    async def test_a_failing_handler_is_retried_until_it_succeeds(
        self, deployment: Deployment
    ) -> None:
        sink = dead()
        bus = deployment.bus("app", dead_letters=sink)
        flaky = Handled(failures=len(BACKOFF))  # the last attempt succeeds
        bus.subscribe("user.*", flaky, name="flaky")
        event = registered()
        await deployment.publish([event])
        await flaky.until(event)
        assert flaky.attempts == len(BACKOFF) + 1
        assert flaky.ids == [event.id]
        assert sink.parked == []

    async def test_a_handler_that_keeps_failing_parks_the_event_and_a_replay_reaches_it_alone(
        self, deployment: Deployment
    ) -> None:
        sink = dead()
        bus = deployment.bus("app", dead_letters=sink)
        broken, healthy = Handled(failures=10**6), Handled()
        bus.subscribe("user.*", broken, name="broken")
        bus.subscribe("user.*", healthy, name="healthy")
        user_id = uuid.uuid4()
        poison, after = registered(user_id), registered(user_id)
        await deployment.publish([poison, after])
        await healthy.until(poison, after)  # the broken consumer held nobody back
        consumer, parked, error = (await Parked(sink).until(2))[0]
        assert (consumer, parked) == ("app:broken", poison)
        assert "RuntimeError: not yet" in error
        assert broken.attempts == 2 * (len(BACKOFF) + 1)  # every attempt, then the next event

        broken.failures = 0  # the fix is deployed; an administrator replays the dead letter
        await deployment.publish([poison])
        await broken.until(poison)
        await asyncio.sleep(0.5)  # a second delivery to the healthy consumer would be in now
        assert broken.ids == [poison.id]
        assert healthy.ids == [poison.id, after.id]
