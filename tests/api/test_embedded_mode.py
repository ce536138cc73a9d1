"""`meeting serve` on embedded defaults (SQLite, in-process state, local disk) runs the product:
the smoke script's whole journey passes against it, and against the production-shaped server.
Restarted on the same DATA_DIR it keeps its signing secret and its revocations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from meeting_shared.security import TokenService
from meeting_shared.settings import JWT_SECRET_FILE, PUBLIC_JWT_SECRETS
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


def embedded_env(**settings: str) -> dict[str, str]:
    """The environment of `make run`: no database, Redis, S3 or secret configured."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "S3_", "JWT_", "ENVIRONMENT"))
    }
    return {**env, "ARGON2_MEMORY_KIB": "8192", "ARGON2_TIME_COST": "1", **settings}


@contextlib.contextmanager
def serving(directory: Path, env: dict[str, str], *, ai_port: int | None = None) -> Iterator[str]:
    """`meeting serve --migrate` in ``directory`` (its DATA_DIR is ``var`` there) until healthy,
    and until its AI node serves when it has one; stopped at the end. Yields its URL."""
    log = (directory / "serve.log").open("ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "meeting_launcher.cli", "serve", "--migrate"],
        cwd=directory,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise AssertionError((directory / "serve.log").read_text()[-3000:])
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("the embedded server did not become healthy")
        deadline = time.monotonic() + 180  # loading the models takes a while on a busy machine
        while ai_port is not None and not ready(f"http://127.0.0.1:{ai_port}"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((directory / "serve.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    port, ai_port, grpc_port, metrics_port = free_ports(4)
    env = embedded_env(
        PORT=str(port),
        # The embedded AI node, as `make run` starts it; model files prepared once per checkout.
        AI_HTTP_PORT=str(ai_port),
        AI_GRPC_PORT=str(grpc_port),
        AI_METRICS_PORT=str(metrics_port),
        AI_MODEL_DIR=str(MODEL_CACHE),
    )
    with serving(tmp_path, env, ai_port=ai_port) as url:
        yield EmbeddedServer(url=url, directory=tmp_path, env=env)
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
                [sys.executable, "-m", "meeting_launcher.cli", "admin", "create",
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


def test_a_restart_keeps_the_generated_secret_and_every_revocation(tmp_path: Path) -> None:
    """No JWT_SECRET: the first start generates one into DATA_DIR (owner-only) and the next
    reuses it; a token signed with the once-default secret is worthless. Sessions ended by
    logout, ban or a password change stay ended after a restart with in-process state."""
    env = embedded_env(
        PORT=str(free_ports(1)[0]),
        EMBEDDED_AI_NODE="false",
        EMBEDDED_RECORDING_WORKER="false",
        ICE_HOST_ADDRESSES="127.0.0.1",
    )
    password = "restart password 1"

    def sign_in(client: httpx.Client, name: str) -> dict[str, str]:
        response = client.post("/api/v1/auth/login", json={"login": name, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def me(client: httpx.Client, headers: dict[str, str]) -> httpx.Response:
        return client.get("/api/v1/users/me", headers=headers)

    with serving(tmp_path, env) as url, httpx.Client(base_url=url, timeout=30) as client:
        for name in ("stays", "leaves", "banned", "changes"):
            account = {"username": name, "email": f"{name}@example.com", "password": password}
            assert client.post("/api/v1/auth/register", json=account).status_code == 201
        subprocess.run(
            [sys.executable, "-m", "meeting_launcher.cli", "admin", "create",
             "--username", "root", "--email", "root@example.com"],
            cwd=tmp_path, env={**env, "MEETING_ADMIN_PASSWORD": password}, check=True,
            capture_output=True, timeout=120,
        )  # fmt: skip
        stays, leaves, banned = (sign_in(client, n) for n in ("stays", "leaves", "banned"))
        changer, changed_elsewhere = sign_in(client, "changes"), sign_in(client, "changes")
        admin = sign_in(client, "root")
        stays_id = uuid.UUID(me(client, stays).json()["id"])
        banned_id = me(client, banned).json()["id"]

        public = TokenService(
            next(iter(PUBLIC_JWT_SECRETS)), issuer="meeting-system", access_ttl=900, join_ttl=120
        )
        forged, _ = public.issue_access(stays_id, uuid.uuid4(), "admin")
        refused = me(client, {"Authorization": f"Bearer {forged}"})
        assert refused.status_code == 401 and refused.json()["code"] == "invalid_token"
        secret = tmp_path / "var" / JWT_SECRET_FILE
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600

        assert client.post("/api/v1/auth/logout", headers=leaves).status_code == 204
        ban = client.post(f"/api/v1/admin/users/{banned_id}/ban", headers=admin)
        assert ban.status_code == 200, ban.text
        change = {"current_password": password, "new_password": "a new restart password 2"}
        changed = client.post("/api/v1/users/me/password", headers=changer, json=change)
        assert changed.status_code == 204, changed.text
        for ended in (leaves, banned, changed_elsewhere):
            assert me(client, ended).json()["code"] == "session_revoked"

    with serving(tmp_path, env) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert me(client, stays).status_code == 200  # the same secret signs and checks
        assert me(client, changer).status_code == 200  # the session that changed it goes on
        for ended in (leaves, banned, changed_elsewhere):
            response = me(client, ended)
            assert response.status_code == 401, response.text
            assert response.json()["code"] == "session_revoked"
