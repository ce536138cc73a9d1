"""`meeting serve` on embedded defaults (SQLite, in-process state, local disk) runs the product:
the smoke script's whole journey passes against it, and against the production-shaped server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from scripts.smoke import run as run_smoke
from tests.ai_nodes import MODEL_CACHE, ready
from tests.conftest import LiveServer, free_ports

# The embedded server loads the AI models before the tests start: more than the default 120 s
# on a busy 2-core machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(360)]


@dataclass(frozen=True)
class EmbeddedServer:
    url: str
    directory: Path
    env: dict[str, str]


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    port, ai_port, grpc_port, metrics_port = free_ports(4)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "S3_", "JWT_", "ENVIRONMENT"))
    }
    env.update(
        {
            "PORT": str(port),
            "ARGON2_MEMORY_KIB": "8192",
            "ARGON2_TIME_COST": "1",
            # The embedded AI node, as `make run` starts it; model files prepared once per checkout.
            "AI_HTTP_PORT": str(ai_port),
            "AI_GRPC_PORT": str(grpc_port),
            "AI_METRICS_PORT": str(metrics_port),
            "AI_MODEL_DIR": str(MODEL_CACHE),
        }
    )
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "meeting_functions.cli", "serve", "--migrate"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise AssertionError((tmp_path / "serve.log").read_text()[-3000:])
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("the embedded server did not become healthy")
        deadline = time.monotonic() + 180  # loading the models takes a while on a busy machine
        while not ready(f"http://127.0.0.1:{ai_port}"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp_path / "serve.log").read_text()[-3000:])
            time.sleep(0.5)
        yield EmbeddedServer(url=url, directory=tmp_path, env=env)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert (tmp_path / "var" / "meeting.db").is_file()


CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)


def test_generated_requests_never_make_the_server_fail(embedded_server: EmbeddedServer) -> None:
    """Property-based requests from the OpenAPI document (schemathesis), signed in as a user and
    as an administrator: whatever arrives, the answer is never a 5xx, and it is what the
    document says: a documented status, its content type (problem+json for errors), a body of
    its schema and its documented headers."""
    url = embedded_server.url
    tokens = []
    for name, admin in (("fuzzer", False), ("fuzzadmin", True)):
        password = "fuzz password 1"
        if admin:
            env = {**embedded_server.env, "MEETING_ADMIN_PASSWORD": password}
            subprocess.run(
                [sys.executable, "-m", "meeting_functions.cli", "admin", "create",
                 "--username", name, "--email", f"{name}@example.com"],
                cwd=embedded_server.directory, env=env, check=True, capture_output=True,
            )  # fmt: skip
        else:
            account = {"username": name, "email": f"{name}@example.com", "password": password}
            assert httpx.post(f"{url}/api/v1/auth/register", json=account).is_success
        login = {"login": name, "password": password}
        tokens.append(httpx.post(f"{url}/api/v1/auth/login", json=login).json())
    for token in tokens:
        result = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "run",
                f"{url}/api/v1/openapi.json",
                "--header", f"Authorization: Bearer {token['access_token']}",
                "--checks", ",".join(CHECKS),
                "--max-examples", "8",
                # Signing out or deleting the account would end the run's own session; emotion in
                # speech is 501 by design (no model ships for it: tests/api/test_ai.py).
                "--exclude-path-regex", "auth/logout|users/me$|ai/emotion$",
                "--seed", "20261128",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-4000:]
        assert "passed" in result.stdout


def test_embedded_defaults_run_the_whole_journey(embedded_server: EmbeddedServer) -> None:
    health = httpx.get(f"{embedded_server.url}/health").json()
    assert health["backends"] == {"database": "sqlite", "state": "memory", "blobs": "local"}
    run_smoke(embedded_server.url, require_ai=True)  # the AI node runs inside `meeting serve`
    uploads = [p for p in (embedded_server.directory / "var" / "blobs").rglob("*") if p.is_file()]
    assert any("media" in p.parts for p in uploads), "the upload should be on local disk"


async def test_production_backends_run_the_whole_journey(live_server: LiveServer) -> None:
    await asyncio.to_thread(run_smoke, live_server.url)
