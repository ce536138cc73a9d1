"""Text the database cannot store (NUL, unpaired surrogates) is a clear 422 on every way in and on
both databases: JSON bodies, query and path parameters, and chat frames on the signaling socket,
signed in or not; never 503 "database not available"."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.api.problems import error_fields, expect_problem
from tests.support.api import Api, UserSession

pytestmark = pytest.mark.integration

NUL = "a\x00b"
SURROGATE_JSON = '"a\\ud800b"'  # JSON's way to say an unpaired surrogate


def expect_invalid_character(response: Any, field: str) -> None:
    body = expect_problem(response, 422, "invalid_character")
    assert body["retryable"] is False
    assert error_fields(body) == [field], body


async def test_anonymous_bodies_with_nul_are_refused(each_api: Api) -> None:
    client = each_api.client
    name = "nul_check"
    register = {"username": name, "email": f"{name}@example.com", "password": "long enough pw"}
    for field in ("username", "email", "password", "display_name"):
        response = await client.post("/api/v1/auth/register", json={**register, field: NUL})
        expect_invalid_character(response, field)
    for field in ("login", "password"):
        credentials = {"login": name, "password": "long enough pw", field: NUL}
        expect_invalid_character(await client.post("/api/v1/auth/login", json=credentials), field)
    reset = await client.post("/api/v1/auth/password-reset/request", json={"email": NUL})
    expect_invalid_character(reset, "email")
    confirm = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": "x" * 20 + NUL, "new_password": "long enough pw"},
    )
    expect_invalid_character(confirm, "token")
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": NUL})
    expect_invalid_character(refresh, "refresh_token")


async def test_signed_in_bodies_and_parameters_with_nul_are_refused(each_api: Api) -> None:
    host, admin = await each_api.user("host"), await each_api.admin()
    meeting = await each_api.meeting(host, password="s3cret")
    base = f"/api/v1/meetings/{meeting['id']}"
    cases = [
        (host, "PATCH", "/api/v1/users/me", {"display_name": NUL}, "display_name"),
        (host, "POST", "/api/v1/meetings", {"title": NUL}, "title"),
        (host, "POST", "/api/v1/meetings", {"title": "x", "description": NUL}, "description"),
        (host, "PATCH", base, {"title": NUL}, "title"),
        (host, "POST", f"{base}/messages", {"body": NUL}, "body"),
        (host, "POST", f"{base}/invites", {"username": NUL}, "username"),
        (admin, "PATCH", f"/api/v1/admin/users/{host.id}", {"display_name": NUL}, "display_name"),
    ]
    for user, method, path, body, field in cases:
        response = await user.client.request(method, path, json=body)
        expect_invalid_character(response, field)
    guest = await each_api.user("guest")
    join = await guest.client.post(f"{base}/join", json={"password": NUL})
    expect_invalid_character(join, "password")
    for user, path in (
        (admin, "/api/v1/admin/users"),
        (admin, "/api/v1/admin/meetings"),
        (host, f"{base}/transcript"),
    ):
        expect_invalid_character(await user.client.get(path, params={"q": NUL}), "query.q")
    # Path parameters, and before signing in: the check comes before anything else.
    expect_invalid_character(await host.client.get("/api/v1/meetings/a%00b"), "path.meeting_id")
    anonymous = await each_api.client.get("/api/v1/admin/users", params={"q": NUL})
    expect_invalid_character(anonymous, "query.q")


async def test_unpaired_surrogates_are_refused_like_nul(each_api: Api) -> None:
    host = await each_api.user("host")
    response = await host.client.post(
        "/api/v1/meetings",
        content=f'{{"title": {SURROGATE_JSON}}}',
        headers={"Content-Type": "application/json"},
    )
    expect_invalid_character(response, "title")
    nested = await host.client.post(
        "/api/v1/meetings",
        content=f'{{"title": "ok", "settings": {{"ai_language": {SURROGATE_JSON}}}}}',
        headers={"Content-Type": "application/json"},
    )
    expect_invalid_character(nested, "settings.ai_language")


async def _chat_socket(api: Api, user: UserSession, meeting_id: str) -> Any:
    joined = await user.client.post(f"/api/v1/meetings/{meeting_id}/join", json={})
    assert joined.status_code == 200, joined.text
    ticket = joined.json()
    socket = await connect(ticket["signaling_url"], origin=api.server.url)  # type: ignore[arg-type]
    await socket.send(json.dumps({"type": "join", "v": 1, "token": ticket["join_token"]}))
    return socket


async def test_a_chat_frame_with_nul_gets_an_error_frame(each_api: Api) -> None:
    host = await each_api.user("host")
    meeting = await each_api.meeting(host)
    socket = await _chat_socket(each_api, host, meeting["id"])
    try:

        async def next_frame(kind: str) -> dict[str, Any]:
            async with asyncio.timeout(5):
                while True:
                    frame: dict[str, Any] = json.loads(await socket.recv())
                    if frame["type"] == kind:
                        return frame

        await next_frame("joined")
        await socket.send(json.dumps({"type": "chat", "body": NUL}))
        error = await next_frame("error")
        assert error["code"] == "invalid_character", error
        # The socket lives on, and the next message gets through.
        await socket.send(json.dumps({"type": "chat", "body": "fine"}))
        assert (await next_frame("chat"))["body"] == "fine"
    finally:
        await socket.close()
    history = await host.client.get(f"/api/v1/meetings/{meeting['id']}/messages")
    assert [item["body"] for item in history.json()["items"]] == ["fine"]
