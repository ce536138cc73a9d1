"""Room placement: least-loaded live node, sticky while it lives, moved when it dies."""

from __future__ import annotations

import uuid

import pytest

from meeting_shared.errors import Unavailable
from meeting_shared.services.nodes import NodeDirectory
from meeting_shared.settings import MediaNode
from meeting_shared.state.memory import MemoryStateStore
from tests.support.clock import FakeClock

pytestmark = pytest.mark.unit

NODES = [MediaNode(id=f"n{i}", signaling_url=f"wss://n{i}/ws/signaling") for i in range(4)]


async def test_without_heartbeats_configured_nodes_share_rooms_stably() -> None:
    directory = NodeDirectory(MemoryStateStore(), NODES)
    meetings = [uuid.uuid4() for _ in range(400)]
    placed = {m: (await directory.place(m)).id for m in meetings}
    counts = {node.id: list(placed.values()).count(node.id) for node in NODES}
    assert all(60 < count < 140 for count in counts.values()), counts
    for meeting in meetings[:20]:
        assert (await directory.place(meeting)).id == placed[meeting]
    with pytest.raises(Unavailable):
        await NodeDirectory(MemoryStateStore(), []).place(uuid.uuid4())


async def test_least_loaded_live_node_wins_and_rooms_stay_while_it_lives() -> None:
    clock = FakeClock(1_800_000_000.0)
    directory = NodeDirectory(MemoryStateStore(), NODES, stale_after=15, clock=clock)
    await directory.heartbeat(NODES[0], load=12)
    await directory.heartbeat(NODES[1], load=3)
    meeting = uuid.uuid4()
    assert (await directory.place(meeting)).id == "n1"
    await directory.heartbeat(NODES[1], load=40)
    assert (await directory.place(meeting, current="n1")).id == "n1"  # a room does not move
    assert (await directory.place(uuid.uuid4())).id == "n0"  # a new one goes where load is low
    assert (await directory.lookup("n1")) == NODES[1]


async def test_a_dead_nodes_rooms_are_placed_again() -> None:
    clock = FakeClock(1_800_000_000.0)
    directory = NodeDirectory(MemoryStateStore(), NODES, stale_after=15, clock=clock)
    await directory.heartbeat(NODES[2], load=0)
    await directory.heartbeat(NODES[3], load=5)
    meeting = uuid.uuid4()
    assert (await directory.place(meeting)).id == "n2"
    clock.now += 10
    await directory.heartbeat(NODES[3], load=5)  # n2 stops beating
    clock.now += 10
    assert [status.id for status in await directory.live()] == ["n3"]
    assert (await directory.place(meeting, current="n2")).id == "n3"
