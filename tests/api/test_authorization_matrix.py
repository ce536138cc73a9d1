"""Authorization matrix: every /api/v1 endpoint by caller (anonymous, user, other, host, admin).

Callers: ``anonymous`` sends no token; ``user`` is an invited participant of the meeting and owns
the media file; ``other`` is signed in with no relation to either; ``host`` hosts the meeting;
``admin`` is a platform administrator who is not a member. Every case builds a fresh world (a
meeting, invites, a media file, a throwaway account) so destructive actions stay in their case;
the signed-in people themselves are made once per module.
"""

from __future__ import annotations

import base64
import io
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from PIL import Image
from sqlalchemy import select

from meeting_functions.http.middleware import API_PREFIX
from meeting_launcher.gateway import create_gateway
from meeting_shared.blobs import BlobStore
from meeting_shared.bus.delivery import DatabaseDeadLetters
from meeting_shared.container import Container
from meeting_shared.db.models import DeadLetter, Recording
from meeting_shared.events import UserUpdated
from tests.support.ai_nodes import AiNodeProcess
from tests.support.api import PASSWORD, Api, UserSession
from tests.support.live_server import LiveServer
from tests.support.speech import wav_bytes

pytestmark = pytest.mark.integration

Caller = Literal["anonymous", "user", "other", "host", "admin"]
CALLERS: tuple[Caller, ...] = ("anonymous", "user", "other", "host", "admin")
# They authenticate by signature, not by session; tested on their own below.
SIGNED_URL_ENDPOINTS = frozenset({("POST", "/blobs/upload"), ("GET", "/blobs/download")})
PROBLEM_JSON = "application/problem+json"
# Codes that mean "the request itself was wrong": a matrix refusal must never be one of them.
MALFORMED_CODES = frozenset(
    {"validation_failed", "not_found", "method_not_allowed", "csrf_failed", "internal_error"}
)


class Expect(NamedTuple):
    """The status each caller gets, in ``CALLERS`` order."""

    anonymous: int
    user: int
    other: int
    host: int
    admin: int


def everyone(status: int) -> Expect:
    return Expect(status, status, status, status, status)


def signed_in(status: int) -> Expect:
    return Expect(401, status, status, status, status)


def members(status: int) -> Expect:
    """Participants and the host; the meeting stays hidden (404) from everybody else."""
    return Expect(401, status, 404, status, 404)


def members_and_admins(status: int) -> Expect:
    """Members, and administrators who support them; hidden from other users."""
    return Expect(401, status, 404, status, status)


def managers(status: int) -> Expect:
    """Host-only actions: a participant is refused, non-members do not see the meeting."""
    return Expect(401, 403, 404, status, 404)


def admins(status: int) -> Expect:
    return Expect(401, 403, 403, 403, status)


def owner_or_admin(status: int) -> Expect:
    """The media file's owner (``user``) and, as moderators, admins; the file is not shared."""
    return Expect(401, status, 404, 404, status)


@dataclass
class Cast:
    """The module's signed-in people; ``guest`` is a second participant that actions target."""

    api: Api
    user: UserSession
    other: UserSession
    host: UserSession
    admin: UserSession
    guest: UserSession


@dataclass
class World:
    """One case's state: who is who, and the values its path and body refer to."""

    api: Api
    people: dict[str, UserSession]
    ids: dict[str, str] = field(default_factory=dict)

    def client(self, caller: Caller) -> httpx.AsyncClient:
        return self.api.client if caller == "anonymous" else self.people[caller].client

    def meeting_path(self, suffix: str = "") -> str:
        return f"{API_PREFIX}/meetings/{self.ids['meeting_id']}{suffix}"


Payload = Callable[[World], dict[str, Any]]
Prepare = Callable[[World], Awaitable[None]]


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # the route's template without the /api/v1 prefix
    expect: Expect
    body: Payload | None = None  # keyword arguments for httpx's request()
    target: Literal["guest", "victim", "user"] = "guest"  # whom ``{user_id}`` names
    prepare: Prepare | None = None
    fresh_caller: bool = False  # the action spends the caller's session or account
    meeting: bool = False  # a meeting to name in the body or query though not in the path

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path


def check(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def json_body(**fields: Any) -> Payload:
    return lambda _world: {"json": fields}


def png(size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def new_registration(_world: World) -> dict[str, Any]:
    name = f"newbie_{uuid.uuid4().hex[:10]}"
    return {"json": {"username": name, "email": f"{name}@example.com", "password": PASSWORD}}


def guest_login(world: World) -> dict[str, Any]:
    return {"json": {"login": world.people["guest"].username, "password": PASSWORD}}


SILENCE_WAV = base64.b64encode(wav_bytes(np.zeros(8000, np.float32), 16000)).decode()
UPLOAD = {"filename": "notes.png", "content_type": "image/png", "size": 1024}


# --- preparations ---------------------------------------------------------------------------


async def guest_in_lobby(world: World) -> None:
    """Approval on, and ``guest`` asks to join: a lobby entry to admit or deny."""
    host, guest = world.people["host"].client, world.people["guest"].client
    change = {"settings": {"require_approval": True}}
    check(await host.patch(world.meeting_path(), json=change), 200)
    check(await guest.post(world.meeting_path("/join")), 202)


async def host_and_user_joined(world: World) -> None:
    for who in ("host", "user"):
        check(await world.people[who].client.post(world.meeting_path("/join")), 200)


async def victim_banned(world: World) -> None:
    admin = world.people["admin"].client
    check(await admin.post(f"{API_PREFIX}/admin/users/{world.ids['user_id']}/ban"), 200)


async def guest_refresh_token(world: World) -> None:
    guest = world.people["guest"]
    world.ids["refresh_token"] = (await world.api.login(guest.username, guest.email)).refresh_token


async def reset_token_mailed(world: World) -> None:
    """A throwaway account asks for a reset; the token comes from the mail it gets."""
    victim = await world.api.register("victim")
    request = {"email": victim["email"]}
    check(
        await world.api.client.post(f"{API_PREFIX}/auth/password-reset/request", json=request), 202
    )
    mail = await world.api.wait_for_mail(victim["email"])
    found = re.search(r"token=([A-Za-z0-9_-]+)", mail["text"])
    assert found, mail
    world.ids["reset_token"] = found.group(1)


# --- the matrix -----------------------------------------------------------------------------

M = "/meetings/{meeting_id}"
R = "/meetings/{meeting_id}/recordings/{recording_id}"


async def finished_recording(world: World) -> None:
    """A ready recording with a video and a thumbnail in the blob store."""
    container = world.api.server.container
    recording_id = uuid.uuid4()
    prefix = f"recordings/{world.ids['meeting_id']}/{recording_id}"
    await container.blobs.put(f"{prefix}/meeting.mp4", b"not really a video", "video/mp4")
    await container.blobs.put(f"{prefix}/thumbnail.jpg", b"not really a picture", "image/jpeg")
    async with container.db.session() as session:
        session.add(
            Recording(
                id=recording_id,
                meeting_id=uuid.UUID(world.ids["meeting_id"]),
                status="ready",
                kind="mixed",
                blob_key=f"{prefix}/meeting.mp4",
                thumbnail_key=f"{prefix}/thumbnail.jpg",
                content_type="video/mp4",
                stopped_at=datetime.now(UTC),
            )
        )
        await session.commit()
    world.ids["recording_id"] = str(recording_id)


async def park_event(world: World) -> None:
    """A dead letter to replay: an event some consumer gave up on."""
    event = UserUpdated(user_id=world.people["user"].id, fields=["display_name"]).envelope("test")
    await DatabaseDeadLetters(world.api.server.container.db).park(
        "matrix:consumer", event, None, "RuntimeError: broken", 4
    )
    async with world.api.server.container.db.read_session() as session:
        letter = await session.scalar(select(DeadLetter).where(DeadLetter.event_id == event.id))
    assert letter is not None
    world.ids["dead_letter_id"] = str(letter.id)


ROWS: tuple[Row, ...] = (
    # user function: sign-up, sessions and password reset are public
    Row("POST", "/auth/register", everyone(201), new_registration),
    Row("POST", "/auth/login", everyone(200), guest_login),
    Row(
        "POST",
        "/auth/refresh",
        everyone(200),
        lambda w: {"json": {"refresh_token": w.ids["refresh_token"]}},
        prepare=guest_refresh_token,
    ),
    # Logout is idempotent: with no session to end it still answers 204.
    Row("POST", "/auth/logout", everyone(204), fresh_caller=True),
    Row("GET", "/csrf-token", everyone(200)),
    Row(
        "POST",
        "/auth/password-reset/request",
        everyone(202),
        json_body(email="nobody@example.com"),
    ),
    Row(
        "POST",
        "/auth/password-reset/confirm",
        everyone(204),
        lambda w: {"json": {"token": w.ids["reset_token"], "new_password": "a new passphrase"}},
        prepare=reset_token_mailed,
    ),
    # user function: the caller's own account
    Row("GET", "/users/me", signed_in(200)),
    Row("PATCH", "/users/me", signed_in(200), json_body(display_name="Renamed")),
    Row("DELETE", "/users/me", signed_in(204), fresh_caller=True),
    Row(
        "POST",
        "/users/me/password",
        signed_in(204),
        json_body(current_password=PASSWORD, new_password="another passphrase"),
        fresh_caller=True,
    ),
    Row(
        "PUT",
        "/users/me/avatar",
        signed_in(200),
        lambda _w: {"files": {"file": ("me.png", png(), "image/png")}},
    ),
    Row("GET", "/users/{user_id}/avatar", signed_in(200), target="user"),
    # user function: administration (the target is a throwaway account)
    Row("GET", "/admin/users", admins(200)),
    Row("GET", "/admin/users/{user_id}", admins(200), target="victim"),
    Row(
        "PATCH",
        "/admin/users/{user_id}",
        admins(200),
        json_body(display_name="Moderated"),
        target="victim",
    ),
    Row(
        "PUT", "/admin/users/{user_id}/role", admins(200), json_body(role="admin"), target="victim"
    ),
    Row("DELETE", "/admin/users/{user_id}", admins(204), target="victim"),
    Row(
        "POST", "/admin/users/{user_id}/ban", admins(200), json_body(reason="spam"), target="victim"
    ),
    Row(
        "POST", "/admin/users/{user_id}/unban", admins(200), target="victim", prepare=victim_banned
    ),
    # meeting function: anyone signed in schedules and lists their own meetings
    Row("POST", "/meetings", signed_in(201), json_body(title="Planning")),
    Row("GET", "/meetings", signed_in(200)),
    Row("GET", "/my/meetings/upcoming", signed_in(200)),
    Row("GET", "/my/meetings/history", signed_in(200)),
    # meeting function: one meeting (``{user_id}`` is ``guest``, another participant)
    Row("GET", M, members(200)),
    Row("PATCH", M, managers(200), json_body(title="Renamed")),
    Row("DELETE", M, managers(204)),
    Row("POST", f"{M}/join", members(200)),
    Row("POST", f"{M}/leave", members(204), prepare=host_and_user_joined),
    Row("POST", f"{M}/start", managers(200)),
    Row("POST", f"{M}/end", managers(200)),
    Row("GET", f"{M}/participants", members(200)),
    Row("PATCH", f"{M}/participants/{{user_id}}", managers(200), json_body(role="presenter")),
    Row("DELETE", f"{M}/participants/{{user_id}}", managers(204)),
    Row("GET", f"{M}/lobby", managers(200)),
    Row("POST", f"{M}/lobby/{{user_id}}/admit", managers(204), prepare=guest_in_lobby),
    Row("POST", f"{M}/lobby/{{user_id}}/deny", managers(204), prepare=guest_in_lobby),
    Row("POST", f"{M}/invites", managers(201), json_body(max_uses=5)),
    Row("GET", f"{M}/messages", members(200)),
    Row("POST", f"{M}/messages", members(201), json_body(body="hello")),
    Row("GET", f"{M}/recordings", members(200)),
    Row("GET", f"{M}/transcript", members(200)),
    # Not live: the host passes authorization and gets 409 meeting_not_live.
    Row("POST", f"{M}/recordings", Expect(401, 403, 404, 409, 404)),
    # A finished recording: stopping it is 409 not_recording for the host.
    Row("POST", f"{R}/stop", Expect(401, 403, 404, 409, 404), prepare=finished_recording),
    Row("GET", f"{R}/download", members(307), prepare=finished_recording),
    Row("GET", f"{R}/thumbnail", members(307), prepare=finished_recording),
    Row("DELETE", R, Expect(401, 403, 404, 204, 204), prepare=finished_recording),
    Row("GET", f"{M}/room", members_and_admins(200)),
    Row("GET", f"{M}/room/stats", members_and_admins(404)),
    Row("GET", "/admin/meetings", admins(200)),
    Row("GET", "/admin/nodes", admins(200)),
    Row("GET", "/admin/audit", admins(200)),
    Row("GET", "/admin/dead-letters", admins(200)),
    Row("POST", "/admin/dead-letters/{dead_letter_id}/replay", admins(200), prepare=park_event),
    Row("POST", "/admin/meetings/{meeting_id}/end", admins(200)),
    # media function (``{media_id}`` is a pending upload owned by ``user``). Admins see and
    # delete any file as moderators (MediaService._may_read), but only the owner and meeting
    # members get its content.
    Row("POST", "/media/uploads", signed_in(201), json_body(**UPLOAD)),
    # Nothing was uploaded: the owner passes authorization and gets 409 upload_missing.
    Row("POST", "/media/uploads/{media_id}/complete", Expect(401, 409, 404, 404, 404)),
    Row("GET", "/media", signed_in(200)),
    Row("GET", "/media/{media_id}", owner_or_admin(200)),
    Row("DELETE", "/media/{media_id}", owner_or_admin(204)),
    # Pending, so 409 media_not_ready where a ready file would redirect (307).
    # Content is for the owner and meeting members only: moderators see metadata and can delete.
    Row("GET", "/media/{media_id}/download", Expect(401, 409, 404, 404, 404)),
    Row("GET", "/media/{media_id}/thumbnail", Expect(401, 409, 404, 404, 404)),
    # ai function: the models for anyone signed in (an AI node runs: see ``cast``), a
    # meeting's AI setup for its members (read) and managers (change)
    Row("POST", "/ai/asr", signed_in(200), lambda _w: {"json": {"audio": SILENCE_WAV}}),
    Row("POST", "/ai/emotion", signed_in(200), json_body(text="What a good meeting")),
    Row("POST", "/ai/synthesis", signed_in(200), json_body(text="Hello")),
    Row(
        "POST",
        "/ai/batch",
        signed_in(200),
        json_body(items=[{"id": "a", "task": "emotion", "input": {"text": "fine"}}]),
    ),
    Row(
        "GET",
        "/ai/setup",
        members(200),
        lambda w: {"params": {"meeting_id": w.ids["meeting_id"]}},
        meeting=True,
    ),
    Row(
        "PUT",
        "/ai/setup",
        managers(200),
        lambda w: {"json": {"meeting_id": w.ids["meeting_id"], "enabled": True}},
        meeting=True,
    ),
    Row("GET", "/ai/info", signed_in(200)),
    Row("GET", "/ai/health", signed_in(200)),
    # the API description is public
    Row("GET", "/openapi.json", everyone(200)),
)


def case_id(row: Row, caller: Caller) -> str:
    return f"{row.method} {row.path} as {caller}"


CASES = [pytest.param(row, caller, id=case_id(row, caller)) for row in ROWS for caller in CALLERS]


@pytest.fixture(scope="module")
async def cast(live_server: LiveServer, ai_node: AiNodeProcess) -> AsyncIterator[Cast]:
    api = Api(live_server)
    try:
        cast = Cast(
            api,
            user=await api.user("user"),
            other=await api.user("other"),
            host=await api.user("host"),
            admin=await api.admin(),
            guest=await api.user("guest"),
        )
        avatar = {"file": ("me.png", png(), "image/png")}
        check(await cast.user.client.put(f"{API_PREFIX}/users/me/avatar", files=avatar), 200)
        yield cast
    finally:
        await api.aclose()


async def build_world(cast: Cast, row: Row, caller: Caller) -> World:
    """Fresh state for one case: only what the row's path and preparation refer to."""
    api = cast.api
    people = {name: getattr(cast, name) for name in ("user", "other", "host", "admin", "guest")}
    if row.fresh_caller and caller != "anonymous":
        people[caller] = await (api.admin() if caller == "admin" else api.user(caller))
    world = World(api, people)
    if "{meeting_id}" in row.path or row.meeting:
        world.ids["meeting_id"] = (await api.meeting(people["host"]))["id"]
        for invitee in ("user", "guest"):
            invite = {"user_id": str(people[invitee].id)}
            check(
                await people["host"].client.post(world.meeting_path("/invites"), json=invite), 201
            )
    if "{media_id}" in row.path:
        started = await people["user"].client.post(f"{API_PREFIX}/media/uploads", json=UPLOAD)
        world.ids["media_id"] = check(started, 201)["media"]["id"]
    if row.target == "victim":
        world.ids["user_id"] = (await api.register("victim"))["id"]
    else:
        world.ids["user_id"] = str(people[row.target].id)
    if row.prepare is not None:
        await row.prepare(world)
    return world


def assert_safe_error_body(response: httpx.Response) -> None:
    """Errors are RFC 9457 problem details with a code; nothing ever shows a stack trace."""
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
        code = response.json().get("code")
        assert isinstance(code, str) and code, response.text


@pytest.mark.parametrize(("row", "caller"), CASES)
async def test_authorization(cast: Cast, row: Row, caller: Caller) -> None:
    world = await build_world(cast, row, caller)
    client = world.client(caller)
    response = await client.request(
        row.method,
        API_PREFIX + row.path.format(**world.ids),
        **(row.body(world) if row.body else {}),
    )
    client.cookies.clear()  # login and refresh set cookies; every case starts without any
    expected = row.expect[CALLERS.index(caller)]
    assert response.status_code == expected, (
        f"{case_id(row, caller)}: expected {expected}, got {response.status_code}: {response.text}"
    )
    assert_safe_error_body(response)
    if response.status_code >= 400:
        assert response.json()["code"] not in MALFORMED_CODES, response.text


def api_endpoints(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path without the prefix) of every route the app serves under /api/v1."""
    found: set[tuple[str, str]] = set()
    # FastAPI includes routers lazily; this walks them the way its OpenAPI generator does.
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if path.startswith(API_PREFIX + "/"):
            methods = route.methods or set()
            found |= {(m, path.removeprefix(API_PREFIX)) for m in methods if m != "HEAD"}
    return found


def test_every_endpoint_has_a_row(live_server: LiveServer) -> None:
    endpoints = api_endpoints(create_gateway(live_server.settings, live_server.container))
    rows = [row.key for row in ROWS]
    assert len(rows) == len(set(rows)), "a row appears twice"
    assert endpoints >= SIGNED_URL_ENDPOINTS, "the signed-URL endpoints moved; update this test"
    missing = sorted(endpoints - set(rows) - SIGNED_URL_ENDPOINTS)
    assert not missing, f"endpoints without a row in the authorization matrix: {missing}"
    stale = sorted(set(rows) - endpoints)
    assert not stale, f"rows for endpoints that no longer exist: {stale}"


# --- signed-URL blob endpoints ------------------------------------------------------------------


async def test_blob_endpoints_refuse_everyone_when_storage_is_s3(cast: Cast) -> None:
    """With S3, clients talk to storage directly: the embedded blob routes refuse all callers."""
    fields = {"key": "media/x/y", "policy": "e30", "signature": "forged"}
    for client in (cast.api.client, cast.user.client, cast.admin.client):
        upload = await client.post(
            f"{API_PREFIX}/blobs/upload", data=fields, files={"file": ("a.png", png())}
        )
        download = await client.get(f"{API_PREFIX}/blobs/download", params={"token": "x" * 40})
        for response in (upload, download):
            assert response.status_code == 404, response.text
            assert_safe_error_body(response)


@dataclass
class Embedded:
    client: httpx.AsyncClient
    blobs: BlobStore


@pytest.fixture(scope="module")
async def embedded(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Embedded]:
    """The gateway with the embedded (local-disk) blob store, which signs its own URLs."""
    settings = live_server.settings.model_copy(
        update={"s3_endpoint": "", "data_dir": tmp_path_factory.mktemp("embedded")}
    )
    container = Container.build(settings)
    app = create_gateway(settings, container)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as client:
            yield Embedded(client, container.blobs)
    finally:
        await container.aclose()


async def test_blob_upload_needs_a_valid_signature(embedded: Embedded, cast: Cast) -> None:
    key = f"media/{uuid.uuid4().hex}/upload"
    target = await embedded.blobs.upload_target(
        key, content_type="image/png", max_bytes=10_000, expires_in=60
    )
    signed = target.fields
    forgeries = {
        "no policy": {"key": key, "Content-Type": "image/png"},
        "wrong signature": {**signed, "signature": "A" * 43},
        "another key": {**signed, "key": f"{key}-elsewhere"},
    }
    # A session does not stand in for a signature.
    headers = cast.admin.auth
    for name, fields in forgeries.items():
        response = await embedded.client.post(
            "/api/v1/blobs/upload",
            data=fields,
            files={"file": ("a.png", png(), "image/png")},
            headers=headers,
        )
        assert response.status_code == 403, f"{name}: {response.text}"
        assert_safe_error_body(response)
        assert response.json()["code"] in {"invalid_signature", "policy_condition_failed"}, name
    genuine = await embedded.client.post(
        "/api/v1/blobs/upload", data=signed, files={"file": ("a.png", png(), "image/png")}
    )
    assert genuine.status_code == 204, genuine.text


async def test_blob_download_needs_a_valid_token(embedded: Embedded, cast: Cast) -> None:
    key = f"media/{uuid.uuid4().hex}/download"
    await embedded.blobs.put(key, png(), "image/png")
    url = await embedded.blobs.download_url(
        key, filename="a.png", content_type="image/png", expires_in=60
    )
    token = httpx.URL(url).params["token"]
    payload, _, signature = token.partition(".")
    path = "/api/v1/blobs/download"
    missing = await embedded.client.get(path, headers=cast.admin.auth)
    assert missing.status_code == 422, missing.text
    assert_safe_error_body(missing)
    for forged in ("x" * 40, f"{payload}.{'A' * len(signature)}", f"{payload}x.{signature}"):
        response = await embedded.client.get(path, params={"token": forged})
        assert response.status_code == 403, response.text
        assert_safe_error_body(response)
        assert response.json()["code"] == "invalid_signature"
    genuine = await embedded.client.get(path, params={"token": token})
    assert genuine.status_code == 200, genuine.text
    assert genuine.content == png()
