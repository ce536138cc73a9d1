"""The Lambda entry points, driven in-process with API Gateway HTTP API (payload 2.0) events over
the session's real PostgreSQL, Redis and S3.

Mangum runs each invocation on ``asyncio.get_event_loop()``, so every test gets an execution
environment of its own: one worker thread with one event loop that all its invocations share, as
a Lambda sandbox's process does. The handler builds its app (engine, Redis pool) on that loop on
first use; the environment closes that app and leaves the handler cold again when the test ends.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import time
import types
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, cast

import boto3
import httpx
import pytest
from moto import mock_aws
from PIL import Image

from meeting_functions.ai.app import handler as ai_handler
from meeting_functions.http.lambda_handler import LambdaHandler, load_secrets
from meeting_functions.media.app import handler as media_handler
from meeting_functions.meeting.app import handler as meeting_handler
from meeting_functions.user.app import handler as user_handler
from meeting_shared.settings import get_settings
from tests.api.problems import expect_problem
from tests.harness.seaweedfs import S3Config
from tests.support.ai_nodes import AiNodeProcess
from tests.support.api import PASSWORD
from tests.support.settings import GENEROUS_LIMIT

pytestmark = pytest.mark.integration

API_ID = "a1b2c3d4e5"
DOMAIN = f"{API_ID}.execute-api.eu-west-1.amazonaws.com"


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of the context object that the Python runtime passes to a handler."""

    function_name: str = "meeting-user"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:meeting-user"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/meeting-user"
    log_stream_name: str = "2026/01/01/[$LATEST]0"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def http_event(
    method: str,
    path: str,
    *,
    json_body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    stage: str = "$default",
    query: str = "",
    base64_body: bool = False,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event as API Gateway sends it for ``ANY /{proxy+}``."""
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    source_ip = "198.51.100.23"
    all_headers = {
        "accept": "application/json",
        "host": DOMAIN,
        "user-agent": "pytest-lambda",
        "x-amzn-trace-id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
        "x-forwarded-for": source_ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **{name.lower(): value for name, value in (headers or {}).items()},
    }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "pytest-lambda",
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": "ANY /{proxy+}",
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "pathParameters": {"proxy": path.lstrip("/")},
        "isBase64Encoded": base64_body,
    }
    if cookies:
        event["cookies"] = cookies
    if json_body is not None:
        text = json.dumps(json_body)
        all_headers["content-type"] = "application/json"
        all_headers["content-length"] = str(len(text.encode()))
        event["body"] = base64.b64encode(text.encode()).decode() if base64_body else text
    return event


def as_response(result: dict[str, Any]) -> httpx.Response:
    """What API Gateway makes of a payload 2.0 result: body decoded, ``cookies`` as Set-Cookie."""
    body = result.get("body", "")
    content = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    headers += [("set-cookie", cookie) for cookie in result.get("cookies", [])]
    return httpx.Response(result["statusCode"], headers=headers, content=content)


def _adapter_cell(handler: LambdaHandler) -> types.CellType:
    """The closure cell where ``lambda_handler_for`` keeps its execution environment's app."""
    function = cast(types.FunctionType, handler)
    cells = dict(zip(function.__code__.co_freevars, function.__closure__ or (), strict=True))
    return cells["adapter"]


class ExecutionEnvironment:
    """One Lambda sandbox: a thread with one event loop, reused by every invocation."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = ThreadPoolExecutor(
            max_workers=1, initializer=asyncio.set_event_loop, initargs=(self._loop,)
        )
        self._handlers: list[LambdaHandler] = []

    def invoke(self, handler: LambdaHandler, event: dict[str, Any]) -> dict[str, Any]:
        if handler not in self._handlers:
            assert _adapter_cell(handler).cell_contents is None, "another test left it warm"
            self._handlers.append(handler)
        return self._thread.submit(handler, event, LambdaContext()).result(timeout=60)

    def call(self, handler: LambdaHandler, event: dict[str, Any]) -> httpx.Response:
        return as_response(self.invoke(handler, event))

    def close(self) -> None:
        for handler in self._handlers:
            cell = _adapter_cell(handler)
            adapter, cell.cell_contents = cell.cell_contents, None
            if adapter is not None:
                closing = adapter.app.state.container.aclose()
                self._thread.submit(self._loop.run_until_complete, closing).result(timeout=60)
        self._thread.submit(self._loop.close).result()
        self._thread.shutdown()


@pytest.fixture
def lambda_env(
    monkeypatch: pytest.MonkeyPatch,
    migrated_postgres: str,
    redis_url: str,
    s3_config: S3Config,
    tmp_path: Path,
) -> Iterator[ExecutionEnvironment]:
    """Settings come from the environment, as in Lambda; a test may set more before invoking."""
    values = {
        "ENVIRONMENT": "test",
        "PUBLIC_URL": f"https://{DOMAIN}",
        "DATABASE_URL": migrated_postgres,
        "REDIS_URL": redis_url,
        "S3_ENDPOINT": s3_config.endpoint_url,
        "S3_BUCKET": s3_config.bucket,
        "S3_REGION": s3_config.region,
        "S3_ACCESS_KEY": s3_config.access_key,
        "S3_SECRET_KEY": s3_config.secret_key,
        "JWT_SECRET": uuid.uuid4().hex * 2,
        "DATA_DIR": str(tmp_path / "data"),
        "API_GATEWAY_BASE_PATH": "/",
        "SMTP_HOST": "",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
        "ARGON2_PARALLELISM": "1",
        "LOG_LEVEL": "WARNING",
    }
    for name in ("LOGIN", "LOGIN_IP", "REGISTER", "PASSWORD_RESET", "REFRESH", "CHAT"):
        values[f"RATE_LIMIT_{name}"] = GENEROUS_LIMIT
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no developer's .env file joins in
    # The handler configures logging for the process, as an entry point does: put it back after.
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    get_settings.cache_clear()
    environment = ExecutionEnvironment()
    try:
        yield environment
    finally:
        environment.close()
        get_settings.cache_clear()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def _sign_up(env: ExecutionEnvironment, stage: str = "$default") -> tuple[str, dict[str, Any]]:
    """Register and sign in through the user function; returns the username and the tokens."""
    name = f"lambda_{uuid.uuid4().hex[:10]}"
    account = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    registered = env.call(
        user_handler, http_event("POST", "/api/v1/auth/register", json_body=account, stage=stage)
    )
    assert registered.status_code == 201, registered.text
    login = {"login": name, "password": PASSWORD}
    signed_in = env.call(
        user_handler, http_event("POST", "/api/v1/auth/login", json_body=login, stage=stage)
    )
    assert signed_in.status_code == 200, signed_in.text
    tokens: dict[str, Any] = signed_in.json()
    return name, tokens


def test_user_function_registers_signs_in_and_answers_problems(
    lambda_env: ExecutionEnvironment,
) -> None:
    name, tokens = _sign_up(lambda_env)
    app = _adapter_cell(user_handler).cell_contents
    assert tokens["user"]["username"] == name

    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    raw = lambda_env.invoke(user_handler, http_event("GET", "/api/v1/users/me", headers=bearer))
    assert raw["isBase64Encoded"] is False  # JSON travels as text
    me = as_response(raw)
    assert me.status_code == 200, me.text
    assert me.headers["content-type"] == "application/json"
    assert (me.json()["username"], me.json()["id"]) == (name, tokens["user"]["id"])
    assert _adapter_cell(user_handler).cell_contents is app, "the app is built once"

    wrong = {"login": name, "password": "not the password"}
    refused = lambda_env.call(
        user_handler, http_event("POST", "/api/v1/auth/login", json_body=wrong)
    )
    expect_problem(refused, 401, "invalid_credentials")

    missing = lambda_env.call(user_handler, http_event("GET", "/api/v1/no-such-endpoint"))
    body = expect_problem(missing, 404, "not_found")
    assert body["instance"] == "/api/v1/no-such-endpoint"
    assert body["request_id"] == missing.headers["x-request-id"]


def test_browser_cookies_travel_in_the_payload_v2_cookie_fields(
    lambda_env: ExecutionEnvironment,
) -> None:
    name = f"lambda_{uuid.uuid4().hex[:10]}"
    account = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    lambda_env.call(user_handler, http_event("POST", "/api/v1/auth/register", json_body=account))
    result = lambda_env.invoke(
        user_handler,
        http_event("POST", "/api/v1/auth/login", json_body={"login": name, "password": PASSWORD}),
    )
    assert result["statusCode"] == 200, result
    # Payload 2.0 returns cookies in their own field, never folded into one header.
    assert "set-cookie" not in {key.lower() for key in result.get("headers", {})}
    jar: SimpleCookie = SimpleCookie()
    for cookie in result["cookies"]:
        jar.load(cookie)
    assert {"access_token", "refresh_token", "csrf_token"} <= set(jar)
    assert jar["access_token"]["httponly"] and jar["refresh_token"]["httponly"]
    sent = [f"{key}={jar[key].value}" for key in ("access_token", "csrf_token")]

    me = lambda_env.call(user_handler, http_event("GET", "/api/v1/users/me", cookies=sent))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == name
    change = {"display_name": "Via Cookies"}
    forged = lambda_env.call(
        user_handler, http_event("PATCH", "/api/v1/users/me", json_body=change, cookies=sent)
    )
    expect_problem(forged, 403, "csrf_failed")
    csrf = {"X-CSRF-Token": jar["csrf_token"].value}
    changed = lambda_env.call(
        user_handler,
        http_event("PATCH", "/api/v1/users/me", json_body=change, cookies=sent, headers=csrf),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["display_name"] == "Via Cookies"


def test_meeting_function_accepts_the_user_functions_tokens(
    lambda_env: ExecutionEnvironment,
) -> None:
    _name, tokens = _sign_up(lambda_env)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    created = lambda_env.call(
        meeting_handler,
        http_event("POST", "/api/v1/meetings", json_body={"title": "Lambda sync"}, headers=bearer),
    )
    assert created.status_code == 201, created.text
    meeting = created.json()
    assert (meeting["host_id"], meeting["title"]) == (tokens["user"]["id"], "Lambda sync")
    listed = lambda_env.call(
        meeting_handler,
        http_event("GET", "/api/v1/meetings", headers=bearer, query="status=scheduled&page_size=5"),
    )
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [meeting["id"]]
    # Each function serves its own routes only.
    elsewhere = lambda_env.call(
        meeting_handler, http_event("GET", "/api/v1/users/me", headers=bearer)
    )
    expect_problem(elsewhere, 404, "not_found")


def test_media_function_hands_out_presigned_s3_uploads(
    lambda_env: ExecutionEnvironment,
) -> None:
    _name, tokens = _sign_up(lambda_env)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    request = {"filename": "notes.png", "content_type": "image/png", "size": 1234}
    started = lambda_env.call(
        media_handler,
        http_event("POST", "/api/v1/media/uploads", json_body=request, headers=bearer),
    )
    assert started.status_code == 201, started.text
    upload = started.json()["upload"]
    assert upload["method"] == "POST" and upload["max_bytes"] == 1234
    assert {"key", "policy", "x-amz-signature"} <= set(upload["fields"])
    media_id = started.json()["media"]["id"]
    pending = lambda_env.call(
        media_handler,
        http_event("POST", f"/api/v1/media/uploads/{media_id}/complete", headers=bearer),
    )
    expect_problem(pending, 409, "upload_missing")
    refused = lambda_env.call(
        media_handler,
        http_event(
            "POST", "/api/v1/media/uploads", json_body={**request, "content_type": "text/html"},
            headers=bearer,
        ),
    )  # fmt: skip
    expect_problem(refused, 415, "content_type_not_allowed")


def test_a_named_stage_is_stripped_from_paths(
    lambda_env: ExecutionEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_GATEWAY_BASE_PATH", "/prod")
    name = f"staged_{uuid.uuid4().hex[:10]}"
    account = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    registered = lambda_env.call(
        user_handler,
        http_event(
            "POST", "/api/v1/auth/register", json_body=account, stage="prod", base64_body=True
        ),
    )
    assert registered.status_code == 201, registered.text
    login = {"login": name, "password": PASSWORD}
    tokens = lambda_env.call(
        user_handler, http_event("POST", "/api/v1/auth/login", json_body=login, stage="prod")
    ).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = lambda_env.call(
        user_handler, http_event("GET", "/api/v1/users/me", headers=bearer, stage="prod")
    )
    assert me.status_code == 200, me.text
    assert me.json()["username"] == name

    missing = lambda_env.call(user_handler, http_event("GET", "/api/v1/nothing", stage="prod"))
    assert expect_problem(missing, 404, "not_found")["instance"] == "/api/v1/nothing"


def test_ai_function_calls_the_ai_nodes_it_finds(
    lambda_env: ExecutionEnvironment, ai_node: AiNodeProcess
) -> None:
    """As a Lambda function the ai function finds the AI nodes through Redis (their heartbeats)
    and calls Triton over HTTP; binary answers (synthesized speech) come back base64-encoded."""
    _name, tokens = _sign_up(lambda_env)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    mood = lambda_env.call(
        ai_handler,
        http_event("POST", "/api/v1/ai/emotion", json_body={"text": "Great job!"}, headers=bearer),
    )
    assert mood.status_code == 200, mood.text
    assert mood.json()["text"]["label"] == "positive"
    spoken = lambda_env.invoke(
        ai_handler,
        http_event("POST", "/api/v1/ai/synthesis", json_body={"text": "Hello"}, headers=bearer),
    )
    assert spoken["statusCode"] == 200 and spoken["isBase64Encoded"] is True
    assert base64.b64decode(spoken["body"])[:4] == b"RIFF"


def test_handlers_read_their_secret_settings_from_secrets_manager(
    lambda_env: ExecutionEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the template gives a function: MEETING_SECRETS_ARN instead of JWT_SECRET and
    DATABASE_URL in its environment (moto plays Secrets Manager)."""
    secret_values = {name: os.environ[name] for name in ("JWT_SECRET", "DATABASE_URL")}
    for name in secret_values:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        arn = client.create_secret(
            Name=f"meeting/{uuid.uuid4().hex}", SecretString=json.dumps(secret_values)
        )["ARN"]
        monkeypatch.setenv("MEETING_SECRETS_ARN", arn)
        name, tokens = _sign_up(lambda_env)
    assert get_settings().jwt_secret == secret_values["JWT_SECRET"]
    assert get_settings().database_url == secret_values["DATABASE_URL"]
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = lambda_env.call(user_handler, http_event("GET", "/api/v1/users/me", headers=bearer))
    assert me.status_code == 200 and me.json()["username"] == name


def test_a_secret_that_is_not_settings_stops_the_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        for body in ('["not", "an", "object"]', '{"lower-case": "x"}'):
            arn = client.create_secret(Name=f"bad/{uuid.uuid4().hex}", SecretString=body)["ARN"]
            monkeypatch.setenv("MEETING_SECRETS_ARN", arn)
            with pytest.raises(RuntimeError, match=r"MEETING_SECRETS_ARN|not a setting name"):
                load_secrets()


def test_media_function_on_aws_s3_with_the_roles_credentials(
    lambda_env: ExecutionEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As deployed on AWS: no S3 endpoint and no keys (the execution role's credentials, from
    the environment as Lambda gives them), AWS's own S3 (moto plays it). The browser's upload is
    played by boto3 here: moto does not check presigned signatures (SeaweedFS tests that)."""
    for name in ("S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("S3_BUCKET", "meeting-media-aws")
    monkeypatch.setenv("S3_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAROLECREDENTIALS")  # as Lambda sets them
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "role-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "role-session")
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket="meeting-media-aws",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )
        _name, tokens = _sign_up(lambda_env)
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        picture = io.BytesIO()
        Image.new("RGB", (32, 24), (200, 40, 40)).save(picture, format="PNG")
        request = {"filename": "red.png", "content_type": "image/png", "size": picture.tell()}
        started = lambda_env.call(
            media_handler,
            http_event("POST", "/api/v1/media/uploads", json_body=request, headers=bearer),
        )
        assert started.status_code == 201, started.text
        upload = started.json()["upload"]
        assert upload["url"].startswith("https://meeting-media-aws.s3")  # AWS's own, virtual-host
        assert upload["fields"]["x-amz-security-token"] == "role-session"
        s3.put_object(
            Bucket="meeting-media-aws", Key=upload["fields"]["key"], Body=picture.getvalue()
        )
        media_id = started.json()["media"]["id"]
        done = lambda_env.call(
            media_handler,
            http_event("POST", f"/api/v1/media/uploads/{media_id}/complete", headers=bearer),
        )
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["width"]) == ("ready", 32)
