"""Media nodes that are alive, and where a meeting's room goes.

Each node writes a heartbeat with its load (connected participants) into the state store. A room
opens on the least-loaded live node and stays there while that node lives; when it stops beating,
the room is placed again the next time someone joins. With no heartbeats at all (the media plane
not started yet, or a deployment that only lists ``MEDIA_NODES``), the configured nodes are used.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from meeting_shared.errors import Unavailable
from meeting_shared.settings import MediaNode
from meeting_shared.state import StateStore

NODES_KEY = "media:nodes"
STALE_AFTER_SECONDS = 15.0  # the default of MEDIA_NODE_STALE_SECONDS


class NodeStats(BaseModel):
    """What a media node forwards, averaged over the last heartbeat interval."""

    rooms: int = 0
    published_tracks: int = 0
    forwarded_streams: int = 0  # published track x subscriber pairs
    packets_in_per_second: float = 0.0
    packets_out_per_second: float = 0.0
    bitrate_in: float = 0.0  # bits per second
    bitrate_out: float = 0.0
    retransmitted_packets: int = 0  # answers to NACKs since the node started
    cpu_percent: float = 0.0  # of one core (one node process uses at most one)


class NodeStatus(BaseModel):
    id: str
    signaling_url: str
    load: int
    seen_at: float  # unix time of the last heartbeat
    stats: NodeStats = NodeStats()

    def node(self) -> MediaNode:
        return MediaNode(id=self.id, signaling_url=self.signaling_url)


def rendezvous_order(meeting_id: uuid.UUID, node_id: str) -> bytes:
    """A stable per-meeting preference between nodes (ties, and the fallback without loads)."""
    return hashlib.sha256(f"{node_id}:{meeting_id}".encode()).digest()


class NodeDirectory:
    def __init__(
        self,
        state: StateStore,
        configured: Sequence[MediaNode],
        *,
        stale_after: float = STALE_AFTER_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._configured = list(configured)
        self._stale_after = stale_after
        self._clock = clock

    async def heartbeat(self, node: MediaNode, load: int, stats: NodeStats | None = None) -> None:
        status = NodeStatus(
            id=node.id,
            signaling_url=node.signaling_url,
            load=load,
            seen_at=self._clock(),
            stats=stats or NodeStats(),
        )
        await self._state.hash_set(
            NODES_KEY, node.id, status.model_dump_json(), ttl=self._stale_after * 20
        )

    async def forget(self, node_id: str) -> None:
        await self._state.hash_delete(NODES_KEY, node_id)

    async def live(self) -> list[NodeStatus]:
        cutoff = self._clock() - self._stale_after
        records = await self._state.hash_get_all(NODES_KEY)
        statuses = [NodeStatus.model_validate_json(value) for value in records.values()]
        return [status for status in statuses if status.seen_at >= cutoff]

    async def lookup(self, node_id: str) -> MediaNode | None:
        """A node by id: its heartbeat if it beats, else its configuration."""
        for status in await self.live():
            if status.id == node_id:
                return status.node()
        return next((node for node in self._configured if node.id == node_id), None)

    async def place(self, meeting_id: uuid.UUID, current: str | None = None) -> MediaNode:
        """The node for a meeting's room: ``current`` while it lives, else the least loaded."""
        live = await self.live()
        if live:
            by_id = {status.id: status for status in live}
            if current in by_id:
                return by_id[current].node()
            best = min(live, key=lambda s: (s.load, rendezvous_order(meeting_id, s.id)))
            return best.node()
        if not self._configured:
            raise Unavailable("No media node is available")
        configured = {node.id: node for node in self._configured}
        if current in configured:
            return configured[current]
        return max(self._configured, key=lambda node: rendezvous_order(meeting_id, node.id))
