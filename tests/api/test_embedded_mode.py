"""`meeting serve` on embedded defaults (SQLite, in-process state, local disk) runs the product:
the smoke script's whole journey passes against it, and against the production-shaped server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.smoke import run as run_smoke
from tests.conftest import LiveServer, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "S3_", "JWT_", "ENVIRONMENT"))
    }
    env.update({"PORT": str(port), "ARGON2_MEMORY_KIB": "8192", "ARGON2_TIME_COST": "1"})
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
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert (tmp_path / "var" / "meeting.db").is_file()
    assert any((tmp_path / "var" / "blobs").rglob("*")), "the upload should be on local disk"


def test_embedded_defaults_run_the_whole_journey(embedded_server: str) -> None:
    health = httpx.get(f"{embedded_server}/health").json()
    assert health["backends"] == {"database": "sqlite", "state": "memory", "blobs": "local"}
    run_smoke(embedded_server)


async def test_production_backends_run_the_whole_journey(live_server: LiveServer) -> None:
    await asyncio.to_thread(run_smoke, live_server.url)
