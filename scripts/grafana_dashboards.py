"""Writes the Grafana dashboards in infra/grafana/dashboards from the short list of panels below.

Run ``python -m scripts.grafana_dashboards`` after changing a panel. ``tests/deploy`` checks that
the files are what this writes, and that the metrics the queries name are the ones the code
defines (``meeting_shared.metrics``, the HTTP middleware) or Triton's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "infra" / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # infra/grafana/provisioning


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]


def p95(histogram: str, by: str = "", window: str = "5m") -> str:
    labels = ", ".join(("le", by)) if by else "le"
    return f"histogram_quantile(0.95, sum by ({labels}) (rate({histogram}_bucket[{window}])))"


OVERVIEW = Dashboard(
    "meeting-overview",
    "meeting-system: overview",
    (
        Panel(
            "HTTP requests by route",
            (("sum by (route) (rate(http_requests_total[5m]))", "{{route}}"),),
            "reqps",
        ),
        Panel(
            "HTTP latency p95 by route",
            ((p95("http_request_duration_seconds", "route"), "{{route}}"),),
            "s",
        ),
        Panel(
            "HTTP server errors (5xx) by route",
            (('sum by (route) (rate(http_requests_total{status=~"5.."}[5m]))', "{{route}}"),),
            "reqps",
        ),
        Panel(
            "HTTP error share",
            (
                (
                    'sum(rate(http_requests_total{status=~"5.."}[5m]))'
                    " / sum(rate(http_requests_total[5m]))",
                    "5xx",
                ),
                (
                    'sum(rate(http_requests_total{status=~"4.."}[5m]))'
                    " / sum(rate(http_requests_total[5m]))",
                    "4xx",
                ),
            ),
            "percentunit",
        ),
        Panel(
            "Events relayed by type",
            (("sum by (type) (rate(meeting_outbox_events_published_total[5m]))", "{{type}}"),),
            "ops",
        ),
        Panel(
            "Relay lag (commit to publication) and failed rounds",
            (
                (p95("meeting_outbox_relay_lag_seconds"), "lag p95"),
                ("sum(increase(meeting_outbox_relay_failures_total[5m]))", "failed rounds / 5m"),
            ),
            "s",
        ),
        Panel(
            "Events handled by consumer",
            (("sum by (consumer) (rate(meeting_events_handled_total[5m]))", "{{consumer}}"),),
            "ops",
        ),
        Panel(
            "Consumer failures and dead letters",
            (
                (
                    "sum by (consumer) (increase(meeting_events_failed_total[5m]))",
                    "{{consumer}} failed attempts",
                ),
                (
                    "sum by (consumer) (increase(meeting_events_dead_lettered_total[5m]))",
                    "{{consumer}} dead letters",
                ),
            ),
        ),
    ),
)

MEDIA = Dashboard(
    "meeting-media",
    "meeting-system: media nodes",
    (
        Panel("Rooms by node", (("sum by (node) (meeting_media_rooms)", "{{node}}"),)),
        Panel(
            "Participants by node", (("sum by (node) (meeting_media_participants)", "{{node}}"),)
        ),
        Panel(
            "Published tracks by source",
            (("sum by (source) (meeting_media_published_tracks)", "{{source}}"),),
        ),
        Panel(
            "Forwarded streams by node",
            (("sum by (node) (meeting_media_forwarded_streams)", "{{node}}"),),
        ),
        Panel(
            "Packets by node",
            (
                (
                    "sum by (node) (rate(meeting_media_forwarded_packets_total[1m]))",
                    "{{node}} forwarded",
                ),
                (
                    "sum by (node) (rate(meeting_media_received_packets_total[1m]))",
                    "{{node}} received",
                ),
            ),
            "pps",
        ),
        Panel(
            "Bitrate by node",
            (
                (
                    "8 * sum by (node) (rate(meeting_media_forwarded_bytes_total[1m]))",
                    "{{node}} forwarded",
                ),
                (
                    "8 * sum by (node) (rate(meeting_media_received_bytes_total[1m]))",
                    "{{node}} received",
                ),
            ),
            "bps",
        ),
        Panel(
            "Retransmissions (answered NACKs) by node",
            (("sum by (node) (rate(meeting_media_retransmitted_packets_total[1m]))", "{{node}}"),),
            "pps",
        ),
    ),
)

# Triton's counters are cumulative microseconds and requests: their rates' ratio is the mean.
_PER_TRITON_REQUEST = " / clamp_min(sum by (model) (rate(nv_inference_request_success[5m])), 1e-9)"

AI = Dashboard(
    "meeting-ai",
    "meeting-system: AI nodes",
    (
        Panel(
            "Model calls by model and outcome",
            (
                (
                    "sum by (model, outcome) (rate(meeting_ai_requests_total[5m]))",
                    "{{model}} {{outcome}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Model call latency p95 (callers, failover included)",
            ((p95("meeting_ai_request_duration_seconds", "model"), "{{model}}"),),
            "s",
        ),
        Panel(
            "Calls a node failed (failover)",
            (("sum by (model) (rate(meeting_ai_node_failures_total[5m]))", "{{model}}"),),
            "reqps",
        ),
        Panel(
            "Triton inferences by model",
            (
                ("sum by (model) (rate(nv_inference_request_success[5m]))", "{{model}} ok"),
                ("sum by (model) (rate(nv_inference_request_failure[5m]))", "{{model}} failed"),
            ),
            "reqps",
        ),
        Panel(
            "Triton time per request by model",
            (
                (
                    "sum by (model) (rate(nv_inference_request_duration_us[5m]))"
                    + _PER_TRITON_REQUEST,
                    "{{model}} total",
                ),
                (
                    "sum by (model) (rate(nv_inference_queue_duration_us[5m]))"
                    + _PER_TRITON_REQUEST,
                    "{{model}} queued",
                ),
            ),
            "µs",
        ),
        Panel(
            "GPU utilization and memory",
            (
                ("avg by (gpu_uuid) (nv_gpu_utilization)", "{{gpu_uuid}} utilization"),
                (
                    "sum by (gpu_uuid) (nv_gpu_memory_used_bytes)"
                    " / sum by (gpu_uuid) (nv_gpu_memory_total_bytes)",
                    "{{gpu_uuid}} memory",
                ),
            ),
            "percentunit",
        ),
    ),
)

RECORDING = Dashboard(
    "meeting-recording",
    "meeting-system: recording",
    (
        Panel(
            "Rooms being recorded by node",
            (("sum by (node) (meeting_media_recordings)", "{{node}}"),),
        ),
        Panel(
            "Recordings mixed per hour by outcome",
            (("sum by (outcome) (increase(meeting_recordings_mixed_total[1h]))", "{{outcome}}"),),
        ),
        Panel(
            "Mixing time per recording",
            (
                (p95("meeting_recording_mixing_seconds", window="1h"), "p95"),
                (
                    "sum(rate(meeting_recording_mixing_seconds_sum[1h]))"
                    " / sum(rate(meeting_recording_mixing_seconds_count[1h]))",
                    "mean",
                ),
            ),
            "s",
        ),
        Panel(
            "Recordings deleted by retention per day",
            (("sum(increase(meeting_recordings_expired_total[1d]))", "deleted"),),
        ),
    ),
)

DASHBOARDS = (OVERVIEW, MEDIA, AI, RECORDING)

WIDTH, HEIGHT = 12, 8  # two panels a row, on Grafana's 24-column grid


def render(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (what file provisioning loads)."""
    panels = []
    for index, panel in enumerate(dashboard.panels):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": panel.title,
                "datasource": DATASOURCE,
                "gridPos": {
                    "h": HEIGHT,
                    "w": WIDTH,
                    "x": (index % 2) * WIDTH,
                    "y": (index // 2) * HEIGHT,
                },
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [
                    {
                        "refId": chr(ord("A") + n),
                        "datasource": DATASOURCE,
                        "expr": expr,
                        "legendFormat": legend,
                    }
                    for n, (expr, legend) in enumerate(panel.queries)
                ],
            }
        )
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "tags": ["meeting-system"],
        "timezone": "browser",
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "panels": panels,
    }


def dashboard_files() -> dict[str, str]:
    """File name -> contents, for every dashboard."""
    return {
        f"{dashboard.uid.removeprefix('meeting-')}.json": json.dumps(
            render(dashboard), indent=2, ensure_ascii=False
        )
        + "\n"
        for dashboard in DASHBOARDS
    }


def main() -> None:
    DASHBOARD_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in dashboard_files().items():
        (DASHBOARD_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {DASHBOARD_DIR / name}")


if __name__ == "__main__":
    main()
