"""The node's heartbeat and its numbers: the directory learns it is alive and how loaded, each
room's forwarding stats go to the state store (for ``GET .../room/stats``), and Prometheus reads
the node's totals at scrape time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import get_args

from meeting_sfu.ai import NodeAi
from meeting_sfu.media.traffic import RateMeter, Traffic
from meeting_sfu.rooms import Room, RoomRegistry
from meeting_shared import metrics
from meeting_shared.clock import utcnow
from meeting_shared.enums import TrackSource
from meeting_shared.errors import MeetingError
from meeting_shared.services.nodes import NodeDirectory, NodeStats
from meeting_shared.services.rooms import RoomStats, TrackStats, stats_key
from meeting_shared.settings import MediaNode
from meeting_shared.state import StateStore

logger = logging.getLogger(__name__)


class NodeHeartbeat:
    def __init__(
        self,
        node_id: str,
        rooms: RoomRegistry,
        traffic: Traffic,
        ai: NodeAi,
        *,
        nodes: NodeDirectory,
        state: StateStore,
        interval: float,
        recover_recordings: Callable[[], Awaitable[None]],
        rooms_recording: Callable[[], int],
    ) -> None:
        self._node_id = node_id
        self._rooms = rooms
        self._traffic = traffic
        self._rates = RateMeter(traffic)
        self._ai = ai
        self._nodes = nodes
        self._state = state
        self._interval = interval
        self._recover_recordings = recover_recordings
        self._rooms_recording = rooms_recording
        self._track_samples: dict[str, tuple[float, int]] = {}  # bytes in at the last heartbeat

    async def run(self) -> None:
        """Tell the directory this node is alive, how loaded it is and what it forwards, and
        publish each room's forwarding stats, until cancelled."""
        node = await self._nodes.lookup(self._node_id)
        if node is None:
            raise RuntimeError(f"NODE_ID {self._node_id!r} is not one of MEDIA_NODES")
        await self._recover_recordings()  # what a crash of this node left half-stored
        try:
            await self._beat(node)
        finally:  # shutting down: rooms move to other nodes on the next join, not after staleness
            with contextlib.suppress(Exception):
                await asyncio.shield(self._nodes.forget(self._node_id))

    async def room_closed(self, meeting_id: uuid.UUID) -> None:
        """The room's last connection left: its stats go with it."""
        await self._state.delete(stats_key(meeting_id))

    async def _beat(self, node: MediaNode) -> None:
        rooms = self._rooms.rooms
        while True:
            load = sum(len(room.connections) for room in rooms.values())
            try:
                await self._nodes.heartbeat(node, load, self._node_stats())
                for room in list(rooms.values()):
                    stats = self._room_stats(room)
                    await self._state.set(
                        stats_key(room.meeting_id), stats.model_dump_json(), ttl=3 * self._interval
                    )
                await self._ai.sweep_announcements()
                live = {t for r in rooms.values() for t in r.media.tracks}
                for gone in self._track_samples.keys() - live:  # tracks that ended
                    del self._track_samples[gone]
            except MeetingError:
                logger.warning("heartbeat not recorded", exc_info=True)
            await asyncio.sleep(self._interval)

    def _node_stats(self) -> NodeStats:
        rates = self._rates.sample()
        tracks = [t for room in self._rooms.rooms.values() for t in room.media.tracks.values()]
        return NodeStats(
            rooms=len(self._rooms.rooms),
            published_tracks=len(tracks),
            forwarded_streams=sum(track.subscribers for track in tracks),
            packets_in_per_second=round(rates.packets_in_per_second, 1),
            packets_out_per_second=round(rates.packets_out_per_second, 1),
            bitrate_in=round(rates.bitrate_in),
            bitrate_out=round(rates.bitrate_out),
            retransmitted_packets=self._traffic.retransmitted,
            cpu_percent=round(rates.cpu_percent, 1),
        )

    def forwarding_stats(self) -> metrics.ForwardingStats:
        """For Prometheus, at scrape time: what the node hosts and its traffic totals."""
        rooms = self._rooms.rooms.values()
        tracks = [t for room in rooms for t in room.media.tracks.values()]
        by_source = dict.fromkeys(get_args(TrackSource), 0)
        for track in tracks:
            by_source[track.source] += 1
        traffic = self._traffic
        return metrics.ForwardingStats(
            node_id=self._node_id,
            rooms=len(self._rooms.rooms),
            participants=sum(len(room.connections) for room in rooms),
            published_tracks=by_source,
            forwarded_streams=sum(track.subscribers for track in tracks),
            recordings=self._rooms_recording(),
            packets_received=traffic.packets_in,
            bytes_received=traffic.bytes_in,
            packets_forwarded=traffic.packets_out,
            bytes_forwarded=traffic.bytes_out,
            packets_retransmitted=traffic.retransmitted,
        )

    def _room_stats(self, room: Room) -> RoomStats:
        now = time.monotonic()
        tracks = []
        for track in room.media.tracks.values():
            then, bytes_then = self._track_samples.get(track.track_id, (now, track.bytes_in))
            elapsed = now - then
            self._track_samples[track.track_id] = (now, track.bytes_in)
            reception = track.reception
            tracks.append(
                TrackStats(
                    track_id=track.track_id,
                    user_id=track.user_id,
                    kind=track.kind,
                    source=track.source,
                    subscribers=track.subscribers,
                    packets_received=reception.received,
                    packets_lost=reception.lost,
                    jitter_ms=round(1000 * reception.jitter / reception.clock_rate, 2),
                    bitrate_in=round(8 * (track.bytes_in - bytes_then) / elapsed) if elapsed else 0,
                    target_bitrate=track.target_bitrate if track.kind == "video" else None,
                )
            )
        return RoomStats(
            meeting_id=room.meeting_id,
            node_id=self._node_id,
            updated_at=utcnow(),
            participants=len(room.connections),
            tracks=tracks,
        )
