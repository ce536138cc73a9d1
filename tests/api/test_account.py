"""One's own account over HTTP: password change, profile, deletion and avatars."""

from __future__ import annotations

import io
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.api.accounts import (
    LOGIN,
    ME,
    NEW_PASSWORD,
    REGISTER,
    RESET_CONFIRM,
    RESET_REQUEST,
    cookieless_client,
    me,
    refresh,
    reset_token,
    sign_in,
    unique_name,
)
from tests.api.problems import error_fields, expect_problem
from tests.support.api import PASSWORD, Api
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.integration


def _png(width: int = 800, height: int = 600) -> bytes:
    """Red in the middle, green bands left and right that a centre crop must remove."""
    image = Image.new("RGB", (width, height), (220, 20, 20))
    band = (width - height) // 2
    if band > 0:
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, band - 1, height), fill=(20, 220, 20))
        draw.rectangle((width - band, 0, width, height), fill=(20, 220, 20))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _noisy_png() -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (300, 300), secrets.token_bytes(300 * 300 * 3)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def app_client(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with cookieless_client(live_server.url) as client:
        yield client


async def test_change_password_keeps_only_this_session(
    api: Api, app_client: httpx.AsyncClient
) -> None:
    user = await api.user("changer")
    phone = await api.login(user.username, user.email)
    asked = await app_client.post(RESET_REQUEST, json={"email": user.email})
    assert asked.status_code == 202, asked.text
    earlier_link = reset_token(await api.wait_for_mail(user.email), api.server)
    path = f"{ME}/password"
    wrong = await user.client.post(
        path, json={"current_password": "not it at all", "new_password": NEW_PASSWORD}
    )
    body = expect_problem(wrong, 422, "wrong_password")
    assert error_fields(body) == ["current_password"]
    assert (await me(app_client, phone.access_token)).status_code == 200

    changed = await user.client.post(
        path, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 204, changed.text
    assert (await user.client.get(ME)).status_code == 200
    assert (await refresh(app_client, user.refresh_token)).status_code == 200
    expect_problem(await me(app_client, phone.access_token), 401, "session_revoked")
    expect_problem(await refresh(app_client, phone.refresh_token), 401, "invalid_refresh_token")
    old = await app_client.post(LOGIN, json={"login": user.username, "password": PASSWORD})
    expect_problem(old, 401, "invalid_credentials")
    await sign_in(app_client, user.email, NEW_PASSWORD)
    # A reset link asked for before the change no longer works after it.
    late = await app_client.post(
        RESET_CONFIRM, json={"token": earlier_link, "new_password": "someone else's choice"}
    )
    expect_problem(late, 422, "invalid_reset_token")


async def test_update_profile(api: Api, app_client: httpx.AsyncClient) -> None:
    user = await api.user("profile")
    other = await api.user("other")
    renamed = await user.client.patch(ME, json={"display_name": "  Ada Lovelace  "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["display_name"] == "Ada Lovelace"
    assert (await user.client.get(ME)).json()["display_name"] == "Ada Lovelace"

    unconfirmed = await user.client.patch(ME, json={"email": f"{unique_name('x')}@example.org"})
    problem = expect_problem(unconfirmed, 422, "password_confirmation_required")
    assert error_fields(problem) == ["current_password"]
    wrong = await user.client.patch(
        ME, json={"email": f"{unique_name('x')}@example.org", "current_password": "not it"}
    )
    expect_problem(wrong, 422, "wrong_password")
    taken_email = await user.client.patch(
        ME, json={"email": other.email.upper(), "current_password": PASSWORD}
    )
    expect_problem(taken_email, 409, "email_taken")
    taken_name = await user.client.patch(ME, json={"username": other.username.upper()})
    expect_problem(taken_name, 409, "username_taken")
    bad_locale = await user.client.patch(ME, json={"locale": "fr"})
    assert error_fields(expect_problem(bad_locale, 422, "validation_failed")) == ["locale"]

    unchanged = await user.client.patch(ME, json={"email": user.email})  # one's own is not taken
    assert unchanged.status_code == 200, unchanged.text
    new_email = f"{unique_name('moved')}@Example.org"
    moved = await user.client.patch(
        ME, json={"email": new_email, "locale": "zh-CN", "current_password": PASSWORD}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["email"], moved.json()["locale"]) == (new_email.lower(), "zh-CN")
    await sign_in(app_client, new_email)
    gone = await app_client.post(LOGIN, json={"login": user.email, "password": PASSWORD})
    expect_problem(gone, 401, "invalid_credentials")


async def test_delete_account(api: Api, app_client: httpx.AsyncClient) -> None:
    host = await api.user("leaver")
    admin = await api.admin()
    title = f"Farewell {uuid.uuid4().hex}"
    start = datetime.now(UTC) + timedelta(days=2)
    meeting = await api.meeting(host, title=title, start_time=start.isoformat())
    assert meeting["status"] == "scheduled"

    deleted = await host.client.delete(ME)
    assert deleted.status_code == 204, deleted.text
    expect_problem(await host.client.get(ME), 401, "session_revoked")
    expect_problem(await refresh(app_client, host.refresh_token), 401, "invalid_refresh_token")
    for login in (host.username, host.email):
        response = await app_client.post(LOGIN, json={"login": login, "password": PASSWORD})
        expect_problem(response, 401, "invalid_credentials")

    again = await app_client.post(
        REGISTER, json={"username": host.username, "email": host.email, "password": PASSWORD}
    )
    assert again.status_code == 201, again.text
    assert again.json()["id"] != str(host.id)

    listed = await admin.client.get("/api/v1/admin/meetings", params={"q": title})
    assert listed.status_code == 200, listed.text
    assert [(m["id"], m["status"]) for m in listed.json()["items"]] == [
        (meeting["id"], "cancelled")
    ]
    expect_problem(await admin.client.get(f"/api/v1/admin/users/{host.id}"), 404, "user_not_found")


# --- avatars ----------------------------------------------------------------------------------


async def test_avatar_is_cropped_square_and_served_as_webp(api: Api) -> None:
    user = await api.user("face")
    viewer = await api.user("viewer")
    path = f"/api/v1/users/{user.id}/avatar"
    expect_problem(await viewer.client.get(path), 404, "avatar_not_found")

    upload = await user.client.put(f"{ME}/avatar", files={"file": ("me.png", _png(), "image/png")})
    assert upload.status_code == 200, upload.text
    avatar_url = upload.json()["avatar_url"]
    assert avatar_url.startswith(f"{path}?v=")

    response = await viewer.client.get(avatar_url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "WEBP"
        size = api.server.settings.avatar_size
        assert image.size == (size, size)
        rgb = image.convert("RGB")
        # The green side bands were cropped away: the edges are red, as the centre is.
        for x, y in ((2, 2), (size - 3, size // 2), (size // 2, size // 2)):
            pixel = rgb.getpixel((x, y))
            assert isinstance(pixel, tuple)
            red, green, _blue = pixel
            assert red > 150 and green < 100, (x, y, red, green)

    replaced = await user.client.put(
        f"{ME}/avatar", files={"file": ("me2.png", _png(400, 400), "image/png")}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["avatar_url"] != avatar_url


@pytest.mark.parametrize(
    ("filename", "content_type", "make"),
    [
        ("notes.txt", "text/plain", lambda: b"just some notes, not a picture\n" * 20),
        ("fake.png", "image/png", lambda: b"just some notes, not a picture\n" * 20),
        ("cut.png", "image/png", lambda: _noisy_png()[:20_000]),
    ],
    ids=["text", "text-named-png", "truncated-png"],
)
async def test_avatar_refuses_what_is_not_a_whole_image(
    api: Api, filename: str, content_type: str, make: Callable[[], bytes]
) -> None:
    user = await api.user("badface")
    response = await user.client.put(
        f"{ME}/avatar", files={"file": (filename, make(), content_type)}
    )
    expect_problem(response, 415, "invalid_image")
    assert (await user.client.get(ME)).json()["avatar_url"] is None


async def test_avatar_over_the_size_limit_is_refused(api: Api) -> None:
    user = await api.user("bigface")
    limit = api.server.settings.avatar_max_bytes
    data = _png(64, 64) + b"\0" * limit
    response = await user.client.put(f"{ME}/avatar", files={"file": ("big.png", data, "image/png")})
    expect_problem(response, 413, "payload_too_large")
