"""infra/template.yaml deployed with `sam deploy` (scripts/deploy.py, as `make deploy-local` does)
to the local AWS emulator, then used through its API Gateway the way a browser would: register,
sign in, schedule, join, upload a file straight to S3 with a presigned POST.

The functions run in the emulator's Lambda workers from the built packages, read their secrets
from its Secrets Manager, migrate an empty PostgreSQL database through the migrate function, and
talk to the session's real PostgreSQL, Redis and SeaweedFS (the bucket the template makes lives
in the emulator; presigned uploads need an S3 server that checks signatures).
"""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from meeting_shared.security import TokenService
from meeting_shared.settings import Settings
from scripts import deploy, emulator
from tests.harness.ports import free_port
from tests.harness.seaweedfs import S3Config
from tests.support.api import PASSWORD
from tests.support.databases import create_database, drop_database, separate_redis_db

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

STAGE = "v1"
SIGNALING = "ws://127.0.0.1:9/ws/signaling"  # the room's node (nobody connects in this test)


@pytest.fixture(scope="module")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    emulator.install()
    port = free_port()
    state = tmp_path_factory.mktemp("emulator")
    process = emulator.start(port, state, state / "emulator.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def deployed(
    emulator_url: str, postgres_url: str, redis_url: str, s3_config: S3Config
) -> Iterator[tuple[deploy.Deployed, dict[str, str]]]:
    name = f"lambda_{uuid.uuid4().hex[:12]}"
    database = create_database(postgres_url, name)  # empty: the migrate function fills it
    settings = {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "DATABASE_URL": database,
        "REDIS_URL": separate_redis_db(redis_url, 8),
        "S3_ENDPOINT": s3_config.endpoint_url,
        "S3_BUCKET": s3_config.bucket,
        "S3_ACCESS_KEY": s3_config.access_key,
        "S3_SECRET_KEY": s3_config.secret_key,
        "MEDIA_NODES": json.dumps([{"id": "node-a", "signaling_url": SIGNALING}]),
        "LOG_LEVEL": "WARNING",
    }
    try:
        yield deploy.deploy("meetingtest", STAGE, emulator_url, settings), settings
    finally:
        drop_database(postgres_url, name)


def test_the_template_validates_and_lints_offline() -> None:
    emulator.install()
    result = subprocess.run(
        [str(emulator.SAM), "validate", "--lint", "--template", str(deploy.TEMPLATE)],
        capture_output=True,
        text=True,
        env=deploy.aws_environment(None) | {"AWS_DEFAULT_REGION": "us-east-1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_a_deployed_stack_serves_the_api_through_api_gateway(
    deployed: tuple[deploy.Deployed, dict[str, str]],
) -> None:
    stack, settings = deployed
    assert stack.api_url.endswith(f"/_aws/execute-api/{stack.api_id}/{STAGE}")
    with httpx.Client(base_url=stack.api_url, timeout=60) as api:
        health = api.get("/health")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"

        host = sign_up(api, "host")
        guest = sign_up(api, "guest")
        me = api.get("/api/v1/users/me", headers=host)
        assert me.status_code == 200, me.text

        created = api.post("/api/v1/meetings", json={"title": "Deployed"}, headers=host)
        assert created.status_code == 201, created.text
        meeting = created.json()
        joined = api.post(f"/api/v1/meetings/{meeting['id']}/join", headers=host)
        assert joined.status_code == 200, joined.text
        room = joined.json()
        assert (room["status"], room["role"], room["node_id"]) == ("joined", "host", "node-a")
        assert room["signaling_url"] == SIGNALING
        # Signed with the JWT secret the functions read from Secrets Manager: a media node with
        # that secret accepts it.
        node_tokens = TokenService(
            settings["JWT_SECRET"], issuer=Settings(_env_file=None).jwt_issuer,
            access_ttl=60, join_ttl=60,
        )  # fmt: skip
        claims = node_tokens.read_join(room["join_token"])
        assert (str(claims.meeting_id), claims.node_id) == (meeting["id"], "node-a")
        stranger = api.post(f"/api/v1/meetings/{meeting['id']}/join", headers=guest)
        assert stranger.status_code == 404  # not invited: the meeting stays hidden
        assert stranger.headers["content-type"] == "application/problem+json"
        assert stranger.json()["code"] == "meeting_not_found"

        content = png(64, 48)
        request = {"filename": "notes.png", "content_type": "image/png", "size": len(content)}
        started = api.post("/api/v1/media/uploads", json=request, headers=host)
        assert started.status_code == 201, started.text
        upload = started.json()["upload"]
        assert upload["url"].startswith(settings["S3_ENDPOINT"])
        files = {"file": ("notes.png", content, "image/png")}
        stored = httpx.post(upload["url"], data=upload["fields"], files=files, timeout=30)
        assert stored.status_code in (200, 201, 204), stored.text
        media_id = started.json()["media"]["id"]
        done = api.post(f"/api/v1/media/uploads/{media_id}/complete", headers=host)
        assert done.status_code == 200, done.text
        finished = done.json()
        assert (finished["status"], finished["size_bytes"]) == ("ready", len(content))
        assert (finished["width"], finished["height"]) == (64, 48)

        unrouted = api.get("/api/v1/nothing-here")
        assert unrouted.status_code == 404  # API Gateway's own answer: no route


def png(width: int, height: int) -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(picture, format="PNG")
    return picture.getvalue()


def sign_up(api: httpx.Client, prefix: str) -> dict[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    account = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    registered = api.post("/api/v1/auth/register", json=account)
    assert registered.status_code == 201, registered.text
    signed_in = api.post("/api/v1/auth/login", json={"login": name, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    tokens: dict[str, Any] = signed_in.json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_the_lambda_packages_hold_no_media_or_ai_stack() -> None:
    """Built by the deploy above (or by `make lambda-bundle`): small, and without aiortc & co."""
    from scripts import build_lambda

    for package in build_lambda.PACKAGES:
        folder = build_lambda.BUILD / package.name
        if not folder.is_dir():
            build_lambda.build(package)
        assert not [name for name in package.never if (folder / name).exists()]
        assert build_lambda.size(folder) < build_lambda.LIMIT_MIB * 2**20
    assert not (build_lambda.BUILD / "core" / "numpy").exists()
    assert (build_lambda.BUILD / "ai" / "tritonclient").is_dir()
