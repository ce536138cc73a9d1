"""Administrators and other people's accounts: listing and search, edits, roles, bans, deletion."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image

from meeting_shared.db.migrate import upgrade
from tests.api.problems import error_fields, expect_problem
from tests.harness.ports import free_port
from tests.harness.seaweedfs import S3Config
from tests.support.api import PASSWORD, Api, UserSession
from tests.support.databases import create_database, drop_database
from tests.support.live_server import production_settings, start_live_server

pytestmark = pytest.mark.integration

USERS = "/api/v1/admin/users"


async def _register(api: Api, username: str, email: str, **extra: str) -> dict[str, Any]:
    response = await api.client.post(
        "/api/v1/auth/register",
        json={"username": username, "email": email, "password": PASSWORD, **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _search(admin: UserSession, q: str, **params: Any) -> dict[str, Any]:
    response = await admin.client.get(USERS, params={"q": q, "page_size": 100, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


async def _login_status(api: Api, login: str, password: str = PASSWORD) -> tuple[int, str]:
    response = await api.client.post(
        "/api/v1/auth/login", json={"login": login, "password": password}
    )
    api.client.cookies.clear()
    code = response.json().get("code", "") if response.status_code != 200 else ""
    return response.status_code, code


# --- listing and search ---------------------------------------------------------------------


async def test_list_pages_through_matches_newest_first(api: Api) -> None:
    admin = await api.admin()
    marker = f"pg{uuid.uuid4().hex[:8]}"
    created = [(await api.register(marker))["id"] for _ in range(3)]

    first = await admin.client.get(USERS, params={"q": marker, "page": 1, "page_size": 2})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["total"], body["page"], body["page_size"]) == (3, 1, 2)
    second = await admin.client.get(USERS, params={"q": marker, "page": 2, "page_size": 2})
    beyond = await admin.client.get(USERS, params={"q": marker, "page": 3, "page_size": 2})
    assert second.json()["total"] == beyond.json()["total"] == 3
    assert beyond.json()["items"] == []
    assert _ids(body) + _ids(second.json()) == created[::-1]
    item = body["items"][0]
    assert {"email", "role", "status", "ban_reason", "updated_at", "created_at"} <= set(item)

    for params in ({"page_size": 0}, {"page_size": 101}, {"page": 0}):
        response = await admin.client.get(USERS, params=params)
        name = next(iter(params))
        assert error_fields(expect_problem(response, 422, "validation_failed")) == [f"query.{name}"]


async def test_search_matches_any_part_of_username_email_or_display_name(api: Api) -> None:
    admin = await api.admin()
    tag = uuid.uuid4().hex[:12]
    by_name = await _register(api, f"Name{tag}X", f"n{uuid.uuid4().hex[:8]}@example.com")
    by_mail = await _register(api, f"m{uuid.uuid4().hex[:8]}", f"inbox.{tag}@Mail.example")
    by_display = await _register(
        api,
        f"d{uuid.uuid4().hex[:8]}",
        f"d{uuid.uuid4().hex[:8]}@example.com",
        display_name=f"Grace {tag.upper()} Hopper",
    )
    found = await _search(admin, tag.upper())
    assert found["total"] == 3
    assert set(_ids(found)) == {by_name["id"], by_mail["id"], by_display["id"]}
    assert _ids(await _search(admin, f"inbox.{tag}@mail")) == [by_mail["id"]]
    assert _ids(await _search(admin, f"ame{tag}")) == [by_name["id"]]
    assert (await _search(admin, f"{tag}-nothing"))["total"] == 0


async def test_search_wildcards_are_taken_literally(api: Api) -> None:
    admin = await api.admin()
    tag = uuid.uuid4().hex[:10]
    underscore = await _register(api, f"w{tag}_x", f"w{tag}_x@example.com")
    lookalike = await _register(api, f"w{tag}zx", f"w{tag}zx@example.com")
    assert _ids(await _search(admin, f"w{tag}_x")) == [underscore["id"]]
    assert _ids(await _search(admin, f"w{tag}zx")) == [lookalike["id"]]

    percent = await _register(api, f"p{tag}a", f"p{tag}a@example.com", display_name=f"100% {tag}")
    await _register(api, f"p{tag}b", f"p{tag}b@example.com", display_name=f"100 and more {tag}")
    assert _ids(await _search(admin, f"100% {tag}")) == [percent["id"]]
    only_percent = await _search(admin, "%")
    assert percent["id"] in _ids(only_percent)
    for item in only_percent["items"]:
        assert "%" in item["username"] + item["email"] + item["display_name"], item
    backslash = await _search(admin, f"\\{tag}")
    assert backslash["total"] == 0


# --- reading and editing one account --------------------------------------------------------


async def test_get_and_edit_a_user(api: Api) -> None:
    admin = await api.admin()
    user = await api.user("edited")
    other = await api.register("taken")

    shown = await admin.client.get(f"{USERS}/{user.id}")
    assert shown.status_code == 200, shown.text
    assert (shown.json()["username"], shown.json()["email"]) == (user.username, user.email)
    assert (shown.json()["role"], shown.json()["status"], shown.json()["ban_reason"]) == (
        "user",
        "active",
        None,
    )
    expect_problem(await admin.client.get(f"{USERS}/{uuid.uuid4()}"), 404, "user_not_found")
    expect_problem(await admin.client.get(f"{USERS}/not-a-uuid"), 422, "validation_failed")

    new_email = f"{uuid.uuid4().hex[:10]}@Example.NET"
    patched = await admin.client.patch(
        f"{USERS}/{user.id}", json={"display_name": "Edited By Admin", "email": new_email}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["email"] == new_email.lower()
    assert (await user.client.get("/api/v1/users/me")).json()["display_name"] == "Edited By Admin"
    assert await _login_status(api, new_email) == (200, "")

    path = f"{USERS}/{user.id}"
    taken = await admin.client.patch(path, json={"email": other["email"].upper()})
    expect_problem(taken, 409, "email_taken")
    taken = await admin.client.patch(path, json={"username": other["username"]})
    expect_problem(taken, 409, "username_taken")
    bad = await admin.client.patch(path, json={"username": "no spaces allowed"})
    assert error_fields(expect_problem(bad, 422, "validation_failed")) == ["username"]
    missing = await admin.client.patch(f"{USERS}/{uuid.uuid4()}", json={"display_name": "x"})
    expect_problem(missing, 404, "user_not_found")


async def test_an_admin_changes_their_own_email_only_with_their_password(api: Api) -> None:
    # As on /users/me: a stolen admin session must not redirect the account's reset mails.
    admin = await api.admin()
    path, new_email = f"{USERS}/{admin.id}", f"{uuid.uuid4().hex[:10]}@example.net"
    unconfirmed = await admin.client.patch(path, json={"email": new_email})
    body = expect_problem(unconfirmed, 422, "password_confirmation_required")
    assert error_fields(body) == ["current_password"]
    wrong = await admin.client.patch(
        path, json={"email": new_email, "current_password": "not my password"}
    )
    assert error_fields(expect_problem(wrong, 422, "wrong_password")) == ["current_password"]
    assert (await admin.client.get(path)).json()["email"] == admin.email
    # Other fields of one's own account, and other people's emails, need no password.
    renamed = await admin.client.patch(path, json={"display_name": "Still Me"})
    assert renamed.status_code == 200, renamed.text
    confirmed = await admin.client.patch(
        path, json={"email": new_email, "current_password": PASSWORD}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["email"] == new_email
    assert "current_password" not in confirmed.json()


# --- roles ------------------------------------------------------------------------------------


async def test_role_changes_apply_at_once(api: Api) -> None:
    admin = await api.admin()
    user = await api.user("rising")
    expect_problem(await user.client.get(USERS), 403, "admin_only")

    same = await admin.client.put(f"{USERS}/{user.id}/role", json={"role": "user"})
    assert same.status_code == 200, same.text
    assert (await user.client.get("/api/v1/users/me")).status_code == 200  # nothing changed

    promoted = await admin.client.put(f"{USERS}/{user.id}/role", json={"role": "admin"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin"
    expect_problem(await user.client.get("/api/v1/users/me"), 401, "session_revoked")
    as_admin = await api.login(user.username, user.email)
    assert (await as_admin.client.get(USERS)).status_code == 200
    assert (await as_admin.client.get("/api/v1/users/me")).json()["role"] == "admin"

    demoted = await admin.client.patch(f"{USERS}/{user.id}", json={"role": "user"})
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["role"] == "user"
    expect_problem(await as_admin.client.get(USERS), 401, "session_revoked")
    again = await api.login(user.username, user.email)
    expect_problem(await again.client.get(USERS), 403, "admin_only")

    bogus = await admin.client.put(f"{USERS}/{user.id}/role", json={"role": "owner"})
    assert error_fields(expect_problem(bogus, 422, "validation_failed")) == ["role"]


async def test_admins_cannot_ban_or_delete_themselves(api: Api) -> None:
    admin = await api.admin()
    expect_problem(await admin.client.post(f"{USERS}/{admin.id}/ban"), 403, "self_action")
    expect_problem(await admin.client.delete(f"{USERS}/{admin.id}"), 403, "self_action")
    me = await admin.client.get(f"{USERS}/{admin.id}")
    assert (me.json()["status"], me.json()["role"]) == ("active", "admin")


@pytest.fixture
async def own_world(
    migrated_postgres: str, redis_url: str, s3_config: S3Config, tmp_path: Path
) -> AsyncIterator[Api]:
    """A server over a database of its own, so the test knows every administrator there is."""
    name = f"meeting_admins_{uuid.uuid4().hex[:12]}"
    try:
        url = await asyncio.to_thread(create_database, migrated_postgres, name)
    except psycopg.errors.InsufficientPrivilege:
        pytest.skip("the test database role may not create databases")
    try:
        await asyncio.to_thread(upgrade, url)
        settings = production_settings(
            postgres_url=url,
            redis_url=redis_url,
            s3=s3_config,
            data_dir=tmp_path,
            port=free_port(),
        )
        server, stop = await start_live_server(settings)
        world = Api(server)
        try:
            yield world
        finally:
            await world.aclose()
            await stop()
    finally:
        await asyncio.to_thread(drop_database, migrated_postgres, name)


async def test_the_last_active_admin_cannot_step_down(own_world: Api) -> None:
    first = await own_world.admin()
    listed = await first.client.get(USERS, params={"role": "admin"})
    assert listed.json()["total"] == 1

    alone = await first.client.put(f"{USERS}/{first.id}/role", json={"role": "user"})
    expect_problem(alone, 409, "last_admin")
    assert (await first.client.get(USERS)).status_code == 200

    # A banned administrator is not an active one: stripping their role leaves ``first``.
    second = await own_world.admin()
    banned = await first.client.post(f"{USERS}/{second.id}/ban", json={"reason": "rogue"})
    assert banned.status_code == 200, banned.text
    stripped = await first.client.put(f"{USERS}/{second.id}/role", json={"role": "user"})
    assert stripped.status_code == 200, stripped.text
    assert stripped.json()["role"] == "user"

    unbanned = await first.client.post(f"{USERS}/{second.id}/unban")
    assert unbanned.status_code == 200, unbanned.text
    restored = await first.client.put(f"{USERS}/{second.id}/role", json={"role": "admin"})
    assert restored.status_code == 200, restored.text
    second = await own_world.login(second.username, second.email)

    # With another active administrator, one may hand over and step down.
    stepped = await first.client.put(f"{USERS}/{first.id}/role", json={"role": "user"})
    assert stepped.status_code == 200, stepped.text
    expect_problem(await first.client.get(USERS), 401, "session_revoked")
    first = await own_world.login(first.username, first.email)
    expect_problem(await first.client.get(USERS), 403, "admin_only")

    last = await second.client.patch(f"{USERS}/{second.id}", json={"role": "user"})
    expect_problem(last, 409, "last_admin")
    admins = await second.client.get(USERS, params={"role": "admin"})
    assert _ids(admins.json()) == [str(second.id)]

    # Nor may the last one delete their own account (nobody could administer afterwards).
    gone = await second.client.delete("/api/v1/users/me")
    expect_problem(gone, 409, "last_admin")
    assert (await second.client.get("/api/v1/users/me")).status_code == 200


# --- bans and deletion ------------------------------------------------------------------------


async def test_ban_ends_sessions_and_blocks_sign_in_until_unbanned(api: Api) -> None:
    admin = await api.admin()
    user = await api.user("banned")
    tablet = await api.login(user.username, user.email)

    banned = await admin.client.post(f"{USERS}/{user.id}/ban", json={"reason": "spam"})
    assert banned.status_code == 200, banned.text
    assert (banned.json()["status"], banned.json()["ban_reason"]) == ("banned", "spam")
    for session in (user, tablet):
        expect_problem(await session.client.get("/api/v1/users/me"), 401, "session_revoked")
        refresh = await api.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": session.refresh_token}
        )
        expect_problem(refresh, 401, "invalid_refresh_token")
    assert await _login_status(api, user.username) == (403, "account_banned")
    # A wrong password says nothing about the ban.
    assert await _login_status(api, user.username, "wrong password") == (401, "invalid_credentials")
    again = await admin.client.post(f"{USERS}/{user.id}/ban")
    expect_problem(again, 409, "already_banned")
    listed = await _search(admin, user.username, status="banned")
    assert _ids(listed) == [str(user.id)]
    assert (await _search(admin, user.username, status="active"))["total"] == 0

    unbanned = await admin.client.post(f"{USERS}/{user.id}/unban")
    assert unbanned.status_code == 200, unbanned.text
    assert (unbanned.json()["status"], unbanned.json()["ban_reason"]) == ("active", None)
    assert await _login_status(api, user.username) == (200, "")
    expect_problem(await admin.client.post(f"{USERS}/{user.id}/unban"), 409, "not_banned")


async def test_delete_user_closes_the_account_and_removes_the_avatar(
    api: Api, s3_config: S3Config
) -> None:
    admin = await api.admin()
    user = await api.user("doomed")
    picture = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(picture, "PNG")
    upload = await user.client.put(
        "/api/v1/users/me/avatar", files={"file": ("a.png", picture.getvalue(), "image/png")}
    )
    assert upload.status_code == 200, upload.text

    def avatar_objects() -> int:
        listing = s3_config.client().list_objects_v2(
            Bucket=s3_config.bucket, Prefix=f"avatars/{user.id}/"
        )
        return listing.get("KeyCount", 0)

    assert await asyncio.to_thread(avatar_objects) == 1
    deleted = await admin.client.delete(f"{USERS}/{user.id}")
    assert deleted.status_code == 204, deleted.text
    assert await asyncio.to_thread(avatar_objects) == 0

    expect_problem(await user.client.get("/api/v1/users/me"), 401, "session_revoked")
    assert await _login_status(api, user.username) == (401, "invalid_credentials")
    expect_problem(await admin.client.get(f"{USERS}/{user.id}"), 404, "user_not_found")
    expect_problem(await admin.client.delete(f"{USERS}/{user.id}"), 404, "user_not_found")
    avatar = await admin.client.get(f"/api/v1/users/{user.id}/avatar")
    expect_problem(avatar, 404, "avatar_not_found")
    gone = await _search(admin, str(user.id.hex[:24]), status="deleted")
    assert [(item["id"], item["display_name"]) for item in gone["items"]] == [
        (str(user.id), "Deleted user")
    ]
    assert (await _search(admin, user.username))["total"] == 0
