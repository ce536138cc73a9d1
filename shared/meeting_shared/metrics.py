"""The Prometheus metrics the system defines (the ``http_*`` ones live in the HTTP middleware).

They are all here so that the Grafana dashboards (``infra/grafana/dashboards``) and the code agree
on names; ``tests/deploy`` checks both ways. Counting happens where the work is done, never per
media packet: a media node's numbers are read from the counters its forwarding path already
keeps, when Prometheus scrapes (``MediaNodeCollector``).
"""

from __future__ import annotations

import hmac
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from fastapi import FastAPI

# Seconds: from a commit or a call to what followed, a few ms to many seconds.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# --- events: the outbox relay and the consumers ------------------------------------------

OUTBOX_PUBLISHED = Counter(
    "meeting_outbox_events_published", "Outbox events handed to the event bus", ["type"]
)
OUTBOX_LAG = Histogram(
    "meeting_outbox_relay_lag_seconds",
    "From an event's recording (in its transaction) to its publication by the relay",
    buckets=_LATENCY_BUCKETS,
)
OUTBOX_FAILURES = Counter(
    "meeting_outbox_relay_failures", "Relay rounds that failed (bus or database unavailable)"
)
EVENTS_HANDLED = Counter("meeting_events_handled", "Events a consumer handled", ["consumer"])
EVENTS_FAILED = Counter(
    "meeting_events_failed", "Handler attempts that raised (retried, then parked)", ["consumer"]
)
EVENTS_DEAD_LETTERED = Counter(
    "meeting_events_dead_lettered", "Events a consumer gave up on (parked)", ["consumer"]
)

# --- AI nodes, as their callers see them -------------------------------------------------------

AI_REQUESTS = Counter(
    "meeting_ai_requests",
    "Model calls by outcome: ok, rejected (bad input), unavailable (no node answered), error",
    ["model", "outcome"],
)
AI_REQUEST_DURATION = Histogram(
    "meeting_ai_request_duration_seconds",
    "Model calls, failover included",
    ["model"],
    buckets=_LATENCY_BUCKETS,
)
AI_NODE_FAILURES = Counter(
    "meeting_ai_node_failures", "Calls a node failed, so that the next one was tried", ["model"]
)

# --- recordings: the mixing worker -------------------------------------------------------------

RECORDINGS_MIXED = Counter(
    "meeting_recordings_mixed", "Recordings the mixing worker finished, by outcome", ["outcome"]
)
RECORDING_MIXING_SECONDS = Histogram(
    "meeting_recording_mixing_seconds",
    "Time to turn one recording into its tracks and its video",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600),
)
RECORDINGS_EXPIRED = Counter(
    "meeting_recordings_expired", "Recordings deleted after RECORDING_RETENTION_DAYS"
)


# --- media nodes: read at scrape time ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForwardingStats:
    """What one media node hosts now and the totals of what it forwarded."""

    node_id: str
    rooms: int = 0
    participants: int = 0
    published_tracks: dict[str, int] = field(default_factory=dict)  # by source
    forwarded_streams: int = 0
    recordings: int = 0
    packets_received: int = 0
    bytes_received: int = 0
    packets_forwarded: int = 0
    bytes_forwarded: int = 0
    packets_retransmitted: int = 0


class ForwardingSource(Protocol):
    """A media node, as the collector reads it."""

    def forwarding_stats(self) -> ForwardingStats: ...


_GAUGES = {
    "rooms": ("meeting_media_rooms", "Rooms open on the node"),
    "participants": ("meeting_media_participants", "Participants connected to the node"),
    "forwarded_streams": (
        "meeting_media_forwarded_streams",
        "Copies of tracks sent to subscribers (one per track and receiver)",
    ),
    "recordings": ("meeting_media_recordings", "Rooms being recorded on the node"),
}
_COUNTERS = {
    "packets_received": ("meeting_media_received_packets", "RTP packets received from publishers"),
    "bytes_received": ("meeting_media_received_bytes", "RTP bytes received from publishers"),
    "packets_forwarded": (
        "meeting_media_forwarded_packets",
        "RTP packets sent to subscribers and taps (captions, recording), one per copy",
    ),
    "bytes_forwarded": (
        "meeting_media_forwarded_bytes",
        "RTP bytes sent to subscribers and taps (captions, recording), one per copy",
    ),
    "packets_retransmitted": (
        "meeting_media_retransmitted_packets",
        "Packets sent again from the cache on a subscriber's NACK",
    ),
}


class MediaNodeCollector(Collector):
    """Walks the media nodes of this process when Prometheus scrapes: the forwarding path only
    adds to counters it keeps anyway. Nodes are held weakly (a stopped node drops out)."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet[ForwardingSource] = weakref.WeakSet()

    def watch(self, source: ForwardingSource) -> None:
        self._sources.add(source)

    def collect(self) -> Iterator[Metric]:
        # Summed by node id: tests run several nodes of one id in a process, and one series
        # per label set is what Prometheus accepts.
        by_node: dict[str, list[ForwardingStats]] = {}
        for source in list(self._sources):
            node_stats = source.forwarding_stats()
            by_node.setdefault(node_stats.node_id, []).append(node_stats)
        for attribute, (name, documentation) in _GAUGES.items():
            gauge = GaugeMetricFamily(name, documentation, labels=["node"])
            for node, stats in by_node.items():
                gauge.add_metric([node], sum(getattr(s, attribute) for s in stats))
            yield gauge
        tracks = GaugeMetricFamily(
            "meeting_media_published_tracks",
            "Tracks published on the node, by source (microphone, camera, screen)",
            labels=["node", "source"],
        )
        for node, stats in by_node.items():
            for kind in sorted({name for s in stats for name in s.published_tracks}):
                count = sum(s.published_tracks.get(kind, 0) for s in stats)
                tracks.add_metric([node, kind], count)
        yield tracks
        for attribute, (name, documentation) in _COUNTERS.items():
            counter = CounterMetricFamily(name, documentation, labels=["node"])
            for node, stats in by_node.items():
                counter.add_metric([node], sum(getattr(s, attribute) for s in stats))
            yield counter


MEDIA_NODES = MediaNodeCollector()
REGISTRY.register(MEDIA_NODES)


# --- the scrape endpoint beside an HTTP API --------------------------------------------------


def install_metrics(app: FastAPI, token: str) -> None:
    """``/metrics`` on ``app``'s own port, for Prometheus only: it answers with
    ``Authorization: Bearer <token>`` (METRICS_TOKEN), and is not served at all without a token
    (scrape METRICS_PORT, which stays on the internal network, instead). The counters say how
    the service is used, which is nobody else's business."""
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response

    expected = f"Bearer {token}".encode()

    async def metrics(request: Request) -> Response:
        if not token:
            raise HTTPException(
                404, "Metrics are not served on this port: see METRICS_PORT and METRICS_TOKEN"
            )
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                401, "Send METRICS_TOKEN as a Bearer token", {"WWW-Authenticate": "Bearer"}
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
