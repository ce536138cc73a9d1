"""What the containers run, run here without containers: each image's command (and the compose
services' commands) as a process with the image's environment, its healthcheck passing while it
serves and failing once it stopped, and the metrics Prometheus would scrape from it. Backends are
the embedded ones (SQLite, in-process state and events); tests/api covers the real ones."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from meeting_shared.ai.client import AiClient
from meeting_shared.ai.nodes import AiNodeDirectory
from meeting_shared.settings import Settings
from meeting_shared.state.memory import MemoryStateStore
from tests.ai_nodes import MODEL_CACHE
from tests.conftest import free_port, free_ports
from tests.deploy.stack import (
    TRITON_GPU_METRICS,
    TRITON_METRICS,
    Dockerfile,
    dockerfiles,
    resolved_compose,
)

pytestmark = pytest.mark.integration

SETTINGS = frozenset(name.upper() for name in Settings.model_fields)
START_SECONDS = 60.0


def process_env(image: Dockerfile, data_dir: Path, **settings: str) -> dict[str, str]:
    """The image's ENV on this machine: none of the developer's own settings, our PATH, files
    under ``data_dir``, loopback only."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS}
    env.update({k: v for k, v in image.env().items() if k != "PATH"})
    env.update(ENVIRONMENT="test", LOG_LEVEL="WARNING", HOST="127.0.0.1", DATA_DIR=str(data_dir))
    env.update(settings)
    return env


def probe(image: Dockerfile, argv: list[str], env: dict[str, str]) -> int:
    """Run a healthcheck as Docker would, but here; its exit status."""
    return subprocess.run(
        image.run_here(argv), env=env, capture_output=True, timeout=30, check=False
    ).returncode


@contextlib.contextmanager
def running(
    image: Dockerfile, argv: list[str], env: dict[str, str], data_dir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    log = data_dir / f"{argv[1]}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            image.run_here(argv),
            env=env,
            cwd=data_dir,  # no .env of the repository's
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stopping takes its children (Triton) along
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_healthy(
    image: Dockerfile,
    argv: list[str],
    env: dict[str, str],
    process: subprocess.Popen[bytes],
    seconds: float = START_SECONDS,
) -> None:
    deadline = time.monotonic() + seconds
    while probe(image, argv, env) != 0:
        log = Path(env["DATA_DIR"]).glob("*.log")
        assert process.poll() is None, "\n".join(p.read_text()[-3000:] for p in log)
        assert time.monotonic() < deadline, "never healthy"
        time.sleep(0.5)


def scrape(url: str) -> list[str]:
    """The samples of a /metrics page, one a line."""
    text = httpx.get(url, timeout=10).text
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def migrate(image: Dockerfile, env: dict[str, str]) -> None:
    done = subprocess.run(
        image.run_here(["meeting", "migrate"]), env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def gateway_image() -> Dockerfile:
    return dockerfiles()["gateway.Dockerfile"]


def test_the_gateway_image_migrates_serves_and_reports(tmp_path: Path) -> None:
    image = gateway_image()
    port, metrics_port = free_ports(2)
    env = process_env(
        image,
        tmp_path,
        PORT=str(port),
        METRICS_PORT=str(metrics_port),
        EMBEDDED_MEDIA_NODE="false",
        EMBEDDED_AI_NODE="false",
        EMBEDDED_RECORDING_WORKER="false",
    )
    migrate(image, env)
    health = image.healthcheck()
    with running(image, image.cmd(), env, tmp_path) as process:
        wait_healthy(image, health, env, process)
        body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
        assert body["status"] == "ok"
        # A sign-up records user.registered: the relay publishes it, the audit log handles it.
        signup = {"username": "ada", "email": "ada@example.com", "password": "correct horse 42"}
        url = f"http://127.0.0.1:{port}"
        assert httpx.post(f"{url}/api/v1/auth/register", json=signup, timeout=30).status_code == 201
        published = 'meeting_outbox_events_published_total{type="user.registered"} 1.0'
        handled = 'meeting_events_handled_total{consumer="meeting.gateway:audit"} 1.0'
        deadline = time.monotonic() + 10
        # The business counters are on the metrics port only, not beside the public API.
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 404
        scraped = f"http://127.0.0.1:{metrics_port}/metrics"
        while not {published, handled} <= set(metrics := scrape(scraped)):
            assert time.monotonic() < deadline, "\n".join(metrics)
            time.sleep(0.2)
        assert 'http_requests_total{method="GET",route="/health",status="200"}' in "".join(metrics)
        assert any(
            line.startswith("meeting_outbox_relay_lag_seconds_count 1.0") for line in metrics
        )
    assert probe(image, health, env) != 0  # stopped: unhealthy


def test_the_media_node_image_serves_signaling_health_and_forwarding_metrics(
    tmp_path: Path,
) -> None:
    image = dockerfiles()["media-node.Dockerfile"]
    port, metrics_port = free_ports(2)
    node = {"id": "media-1", "signaling_url": f"ws://127.0.0.1:{port}/ws/signaling"}
    env = process_env(
        image, tmp_path, PORT=str(port), NODE_ID="media-1", METRICS_PORT=str(metrics_port)
    )
    env["MEDIA_NODES"] = json.dumps([node])
    migrate(gateway_image(), env)  # the media node's image has no migrate step of its own
    health = image.healthcheck()
    with running(image, image.cmd(), env, tmp_path) as process:
        wait_healthy(image, health, env, process)
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 404
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        assert 'meeting_media_rooms{node="media-1"} 0.0' in metrics
        assert 'meeting_media_forwarded_packets_total{node="media-1"} 0.0' in metrics
    assert probe(image, health, env) != 0


# `meeting recorder` is the mixer's old name, kept for one release: it must still run the mixer.
@pytest.mark.parametrize("name", ["mixer", "recorder"])
def test_the_mixer_service_serves_its_metrics_and_its_healthcheck_passes(
    tmp_path: Path, name: str
) -> None:
    image = gateway_image()
    mixer = resolved_compose()["services"]["mixer"]
    assert mixer["command"] == ["meeting", "mixer"]
    health = mixer["healthcheck"]["test"][1:]  # after "CMD"; `$$` is compose's escaped `$`
    health = [arg.replace("$$", "$") for arg in health]
    metrics_port = free_port()
    env = process_env(image, tmp_path, METRICS_PORT=str(metrics_port))
    migrate(image, env)
    with running(image, ["meeting", name], env, tmp_path) as process:
        wait_healthy(image, health, env, process)
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        assert "# TYPE meeting_recordings_mixed_total counter" in metrics
        assert "# TYPE meeting_recording_mixing_seconds histogram" in metrics


TRITON_SAMPLE = re.compile(r"^(nv_\w+)\{(.*)\} (\S+)$", re.MULTILINE)


@pytest.mark.timeout(300)
async def test_the_gpu_node_image_command_serves_triton_and_its_metrics(tmp_path: Path) -> None:
    """The gpu-node image's command, on this machine's CPU and with one small model (the
    image serves all of them on CUDA): Triton's readiness is the healthcheck, and its metrics
    carry the names the AI dashboard reads."""
    image = dockerfiles()["gpu-node.Dockerfile"]
    http, grpc, triton_metrics, our_metrics = free_ports(4)
    env = process_env(
        image,
        tmp_path,
        AI_NODE_HOST="127.0.0.1",
        AI_HTTP_PORT=str(http),
        AI_GRPC_PORT=str(grpc),
        AI_METRICS_PORT=str(triton_metrics),
        METRICS_PORT=str(our_metrics),
        AI_MODEL_DIR=str(MODEL_CACHE),
    )
    health = image.healthcheck()
    with running(image, [*image.cmd(), "--model", "emotion_text"], env, tmp_path) as process:
        wait_healthy(image, health, env, process, seconds=180)
        # Triton is ready before PyTriton has bound the models (the node announces itself to
        # callers only once they are): wait for the model as callers do.
        model_ready = f"http://127.0.0.1:{http}/v2/models/emotion_text/ready"
        async with httpx.AsyncClient(timeout=5) as web, asyncio.timeout(120):
            while True:
                if (await web.get(model_ready)).status_code == 200:
                    break
                await asyncio.sleep(0.5)
        client = AiClient(
            AiNodeDirectory(MemoryStateStore(), [f"http://127.0.0.1:{http}"], stale_after=15),
            timeout=30,
            retry_after=5,
        )
        try:
            assert (await client.text_emotion("I love this meeting")).label == "positive"
        finally:
            await client.aclose()
        async with httpx.AsyncClient(timeout=10) as http_client:
            triton = (await http_client.get(f"http://127.0.0.1:{triton_metrics}/metrics")).text
            ours = (await http_client.get(f"http://127.0.0.1:{our_metrics}/metrics")).text
        # Read as written: prometheus_client's parser would add _total to Triton's counters,
        # which Prometheus (and so the dashboards) never does.
        served: dict[str, float] = {}
        for name, labels, sample in TRITON_SAMPLE.findall(triton):
            if 'model="emotion_text"' in labels:
                served[name] = served.get(name, 0.0) + float(sample)
        assert set(served) >= TRITON_METRICS - TRITON_GPU_METRICS, sorted(served)
        assert served["nv_inference_request_success"] == 1
        assert "# TYPE meeting_ai_requests_total counter" in ours
    assert probe(image, health, env) != 0


class OtlpReceiver:
    """What an OpenTelemetry collector's OTLP/HTTP receiver takes: the export requests."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/traces":
                    received.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[tuple[str, str, str]]:
        """(service, span name, trace id) of every span received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = resource_spans.resource.attributes
                attributes = {a.key: a.value.string_value for a in resource}
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        found.append((attributes["service.name"], span.name, span.trace_id.hex()))
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_gateway_exports_a_requests_trace_to_the_collector(tmp_path: Path) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT as compose sets it: the request's span and the span of the
    consumer that handled its event reach the collector, in the caller's trace."""
    receiver = OtlpReceiver()
    image = gateway_image()
    port = free_port()
    env = process_env(
        image, tmp_path, PORT=str(port), EMBEDDED_MEDIA_NODE="false", EMBEDDED_AI_NODE="false",
        EMBEDDED_RECORDING_WORKER="false", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="200",  # export every 0.2 s rather than 5
    )  # fmt: skip
    migrate(image, env)
    trace_id = secrets.token_hex(16)
    try:
        with running(image, image.cmd(), env, tmp_path) as process:
            wait_healthy(image, image.healthcheck(), env, process)
            password = "correct horse 43"
            signup = {"username": "grace", "email": "grace@example.com", "password": password}
            answer = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/auth/register", json=signup, timeout=30,
                headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
            )  # fmt: skip
            assert answer.status_code == 201, answer.text
            deadline = time.monotonic() + 20
            while not {"POST /api/v1/auth/register", "user.registered process"} <= {
                name for _, name, trace in receiver.spans() if trace == trace_id
            }:
                assert time.monotonic() < deadline, receiver.spans()
                time.sleep(0.2)
        assert {service for service, _, trace in receiver.spans() if trace == trace_id} == {
            "meeting-gateway"
        }
    finally:
        receiver.close()
