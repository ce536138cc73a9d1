"""Signing up and in over HTTP: registration, credentials, rotating refresh tokens, browser
cookies with CSRF, password reset by mail and the rate limits that guard them."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import uuid
from collections.abc import AsyncIterator
from http.cookies import Morsel, SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.accounts import (
    LOGIN,
    ME,
    NEW_PASSWORD,
    REFRESH,
    REGISTER,
    RESET_CONFIRM,
    RESET_REQUEST,
    bearer,
    cookieless_client,
    me,
    refresh,
    reset_token,
    sign_in,
    unique_name,
)
from tests.api.problems import PROBLEM_JSON, error_fields, expect_problem
from tests.harness.ports import free_port
from tests.harness.seaweedfs import S3Config
from tests.support.api import PASSWORD, Api
from tests.support.live_server import LiveServer, production_settings, start_live_server

pytestmark = pytest.mark.integration

LOGOUT = "/api/v1/auth/logout"


def _random_ip() -> str:
    """An address of its own, so rate-limit counters never collide between tests or runs."""
    return str(ipaddress.IPv4Address(0x0A000000 | secrets.randbits(24)))


def _set_cookies(response: httpx.Response) -> dict[str, Morsel[str]]:
    cookies: dict[str, Morsel[str]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        cookies.update(jar)
    return cookies


@pytest.fixture
async def app_client(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with cookieless_client(live_server.url) as client:
        yield client


@pytest.fixture
async def browser(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client like a browser: it keeps cookies and sends no Authorization header."""
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        yield client


async def _wait_for_mails(api: Api, address: str, count: int) -> list[dict[str, Any]]:
    for _ in range(100):
        mails = api.mails_to(address)
        if len(mails) >= count:
            return mails
        await asyncio.sleep(0.05)
    raise AssertionError(f"{address} got {len(api.mails_to(address))} mails, not {count}")


# --- registration and sign-in ---------------------------------------------------------------


async def test_register_returns_the_normalised_private_profile(
    app_client: httpx.AsyncClient,
) -> None:
    name = unique_name("MiXeD")
    response = await app_client.post(
        REGISTER,
        json={"username": name, "email": f"{name}@Example.COM", "password": PASSWORD},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["username"] == name.lower()
    assert body["email"] == f"{name.lower()}@example.com"
    assert body["display_name"] == name.lower()
    assert (body["role"], body["status"], body["avatar_url"]) == ("user", "active", None)
    assert not any("password" in key for key in body)
    uuid.UUID(body["id"])


async def test_register_refuses_taken_names_whatever_their_case(
    app_client: httpx.AsyncClient,
) -> None:
    name = unique_name()
    first = await app_client.post(
        REGISTER, json={"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    )
    assert first.status_code == 201, first.text
    same_name = await app_client.post(
        REGISTER,
        json={"username": name.upper(), "email": f"x{name}@example.com", "password": PASSWORD},
    )
    expect_problem(same_name, 409, "username_taken")
    same_email = await app_client.post(
        REGISTER,
        json={"username": f"x{name}", "email": f"{name.upper()}@EXAMPLE.com", "password": PASSWORD},
    )
    expect_problem(same_email, 409, "email_taken")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"username": "has space"}, "username"),
        ({"username": "ab"}, "username"),
        ({"username": "semi;colon"}, "username"),
    ],
)
async def test_register_validation_names_the_field(
    app_client: httpx.AsyncClient, override: dict[str, str], field: str
) -> None:
    name = unique_name()
    payload = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    response = await app_client.post(REGISTER, json={**payload, **override})
    body = expect_problem(response, 422, "validation_failed")
    assert error_fields(body) == [field]
    assert all(error["message"] for error in body["errors"])


async def test_register_refuses_a_guessable_password(app_client: httpx.AsyncClient) -> None:
    name = unique_name()
    response = await app_client.post(
        REGISTER, json={"username": name, "email": f"{name}@example.com", "password": "abababab"}
    )
    assert error_fields(expect_problem(response, 422, "weak_password")) == ["password"]


async def test_login_by_username_or_email_in_any_case(
    api: Api, app_client: httpx.AsyncClient
) -> None:
    created = await api.register()
    for login in (created["username"], created["email"].upper(), f"  {created['username']} "):
        tokens = await sign_in(app_client, login)
        assert tokens["token_type"] == "bearer"
        assert tokens["user"]["id"] == created["id"]
        profile = await me(app_client, tokens["access_token"])
        assert profile.status_code == 200, profile.text
        assert profile.json()["username"] == created["username"]
        assert profile.json()["last_login_at"] is not None


async def test_wrong_password_and_unknown_user_look_the_same(
    api: Api, app_client: httpx.AsyncClient
) -> None:
    created = await api.register()
    wrong = await app_client.post(
        LOGIN, json={"login": created["username"], "password": "not the password"}
    )
    unknown = await app_client.post(
        LOGIN, json={"login": unique_name("nobody"), "password": "not the password"}
    )
    bodies = []
    for response in (wrong, unknown):
        body = expect_problem(response, 401, "invalid_credentials")
        assert body["request_id"] == response.headers["x-request-id"]
        bodies.append({k: v for k, v in body.items() if k not in ("request_id", "instance")})
    assert bodies[0] == bodies[1]
    assert wrong.headers["content-type"] == unknown.headers["content-type"]
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers


# --- tokens: rotation, reuse detection, logout ------------------------------------------------


async def test_refresh_rotates_and_the_old_access_token_lives_on(
    api: Api, app_client: httpx.AsyncClient
) -> None:
    created = await api.register()
    tokens = await sign_in(app_client, created["username"])
    response = await refresh(app_client, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["user"]["id"] == created["id"]
    assert rotated["expires_in"] == api.server.settings.access_token_ttl_seconds
    assert rotated["refresh_expires_in"] == api.server.settings.refresh_token_ttl_seconds
    for access in (rotated["access_token"], tokens["access_token"]):
        assert (await me(app_client, access)).status_code == 200
    again = await refresh(app_client, rotated["refresh_token"])
    assert again.status_code == 200, again.text


async def test_reusing_a_rotated_refresh_token_revokes_its_whole_session(
    api: Api, app_client: httpx.AsyncClient
) -> None:
    created = await api.register()
    stolen = await sign_in(app_client, created["username"])
    elsewhere = await sign_in(app_client, created["username"])  # another device
    newest = (await refresh(app_client, stolen["refresh_token"])).json()

    reuse = await refresh(app_client, stolen["refresh_token"])
    expect_problem(reuse, 401, "refresh_token_reused")

    expect_problem(await refresh(app_client, newest["refresh_token"]), 401, "invalid_refresh_token")
    for access in (newest["access_token"], stolen["access_token"]):
        expect_problem(await me(app_client, access), 401, "session_revoked")
    # The other device's session is a different family and keeps working.
    assert (await me(app_client, elsewhere["access_token"])).status_code == 200
    assert (await refresh(app_client, elsewhere["refresh_token"])).status_code == 200


async def test_refresh_refuses_unknown_and_missing_tokens(app_client: httpx.AsyncClient) -> None:
    expect_problem(await refresh(app_client, "x" * 43), 401, "invalid_refresh_token")
    expect_problem(await app_client.post(REFRESH), 401, "invalid_refresh_token")


async def test_a_signed_token_with_a_role_we_do_not_know_is_refused(
    api: Api, app_client: httpx.AsyncClient
) -> None:
    user = await api.user("role")
    tokens = api.server.container.tokens  # signed with the server's own key: only the role is off
    for role in ("superuser", 5, None):
        token, _ = tokens.issue_access(user.id, uuid.uuid4(), role)  # type: ignore[arg-type]
        expect_problem(await me(app_client, token), 401, "invalid_token")
    valid, _ = tokens.issue_access(user.id, uuid.uuid4(), "user")
    assert (await me(app_client, valid)).status_code == 200


async def test_logout_ends_the_session_at_once(api: Api, app_client: httpx.AsyncClient) -> None:
    created = await api.register()
    tokens = await sign_in(app_client, created["username"])
    other = await sign_in(app_client, created["username"])

    response = await app_client.post(LOGOUT, headers=bearer(tokens["access_token"]))
    assert response.status_code == 204, response.text
    expect_problem(await me(app_client, tokens["access_token"]), 401, "session_revoked")
    expect_problem(await refresh(app_client, tokens["refresh_token"]), 401, "invalid_refresh_token")
    # Idempotent, and a client that only has its refresh token can sign out too.
    again = await app_client.post(LOGOUT, headers=bearer(tokens["access_token"]))
    assert again.status_code == 204
    by_refresh = await app_client.post(LOGOUT, json={"refresh_token": other["refresh_token"]})
    assert by_refresh.status_code == 204, by_refresh.text
    expect_problem(await me(app_client, other["access_token"]), 401, "session_revoked")
    expect_problem(await refresh(app_client, other["refresh_token"]), 401, "invalid_refresh_token")


# --- browsers: cookies and CSRF ---------------------------------------------------------------


async def test_login_sets_httponly_samesite_cookies(api: Api, browser: httpx.AsyncClient) -> None:
    created = await api.register()
    response = await browser.post(LOGIN, json={"login": created["username"], "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    cookies = _set_cookies(response)
    settings = api.server.settings
    expected = {
        "access_token": (body["access_token"], True, "lax", "/", settings.access_token_ttl_seconds),
        "refresh_token": (
            body["refresh_token"],
            True,
            "strict",
            "/api/v1/auth",
            settings.refresh_token_ttl_seconds,
        ),
        "csrf_token": (
            body["csrf_token"],
            False,
            "strict",
            "/",
            settings.refresh_token_ttl_seconds,
        ),
    }
    assert set(cookies) == set(expected)
    for name, (value, httponly, samesite, path, max_age) in expected.items():
        morsel = cookies[name]
        assert morsel.value == value, name
        assert bool(morsel["httponly"]) is httponly, name
        assert morsel["samesite"].lower() == samesite, name
        assert morsel["path"] == path, name
        assert int(morsel["max-age"]) == max_age, name
        assert not morsel["secure"], name  # plain HTTP test server; production sets Secure


async def test_cookie_sessions_must_echo_the_csrf_token(
    api: Api, browser: httpx.AsyncClient
) -> None:
    created = await api.register()
    login = await browser.post(LOGIN, json={"login": created["username"], "password": PASSWORD})
    csrf = login.json()["csrf_token"]
    assert browser.cookies["csrf_token"] == csrf

    profile = await browser.get(ME)  # safe methods need no token
    assert profile.status_code == 200, profile.text
    assert profile.json()["id"] == created["id"]

    change = {"display_name": "Cookie Monster"}
    expect_problem(await browser.patch(ME, json=change), 403, "csrf_failed")
    forged = await browser.patch(ME, json=change, headers={"X-CSRF-Token": "forged.value"})
    expect_problem(forged, 403, "csrf_failed")
    ok = await browser.patch(ME, json=change, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert ok.json()["display_name"] == "Cookie Monster"

    issued = await browser.get("/api/v1/csrf-token")
    assert issued.status_code == 200, issued.text
    fresh = issued.json()["csrf_token"]
    assert fresh != csrf
    assert browser.cookies["csrf_token"] == fresh
    stale = await browser.patch(ME, json=change, headers={"X-CSRF-Token": csrf})
    expect_problem(stale, 403, "csrf_failed")
    renamed = await browser.patch(
        ME, json={"display_name": "Cookie"}, headers={"X-CSRF-Token": fresh}
    )
    assert renamed.status_code == 200, renamed.text


async def test_browser_refreshes_with_cookies_only(
    api: Api, browser: httpx.AsyncClient, app_client: httpx.AsyncClient
) -> None:
    created = await api.register()
    login = await browser.post(LOGIN, json={"login": created["username"], "password": PASSWORD})
    first = login.json()
    csrf = {"X-CSRF-Token": first["csrf_token"]}

    expect_problem(await browser.post(REFRESH), 403, "csrf_failed")
    refreshed = await browser.post(REFRESH, headers=csrf)
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert browser.cookies.get("refresh_token", path="/api/v1/auth") == second["refresh_token"]
    assert browser.cookies.get("access_token", path="/") == second["access_token"]
    assert (await browser.get(ME)).status_code == 200
    # The first refresh token was spent by the cookie refresh.
    expect_problem(await refresh(app_client, first["refresh_token"]), 401, "refresh_token_reused")
    expect_problem(await browser.get(ME), 401, "session_revoked")


async def test_browser_logout_clears_cookies_and_revokes(
    api: Api, browser: httpx.AsyncClient, app_client: httpx.AsyncClient
) -> None:
    created = await api.register()
    login = await browser.post(LOGIN, json={"login": created["username"], "password": PASSWORD})
    tokens = login.json()
    expect_problem(await browser.post(LOGOUT), 403, "csrf_failed")
    response = await browser.post(LOGOUT, headers={"X-CSRF-Token": tokens["csrf_token"]})
    assert response.status_code == 204, response.text
    cleared = _set_cookies(response)
    assert {"access_token", "refresh_token"} <= set(cleared)
    assert all(int(cleared[name]["max-age"]) == 0 for name in ("access_token", "refresh_token"))
    assert browser.cookies.get("access_token") is None
    expect_problem(await browser.get(ME), 401, "unauthenticated")
    expect_problem(await me(app_client, tokens["access_token"]), 401, "session_revoked")
    expect_problem(await refresh(app_client, tokens["refresh_token"]), 401, "invalid_refresh_token")


# --- password reset -----------------------------------------------------------------------------


async def test_password_reset_by_mail(api: Api, app_client: httpx.AsyncClient) -> None:
    user = await api.user("reset")
    laptop = await api.login(user.username, user.email)
    response = await app_client.post(RESET_REQUEST, json={"email": user.email.upper()})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"

    token = reset_token(await api.wait_for_mail(user.email), api.server)
    confirm = {"token": token, "new_password": NEW_PASSWORD}
    confirmed = await app_client.post(RESET_CONFIRM, json=confirm)
    assert confirmed.status_code == 204, confirmed.text

    await sign_in(app_client, user.username, NEW_PASSWORD)
    old = await app_client.post(LOGIN, json={"login": user.username, "password": PASSWORD})
    expect_problem(old, 401, "invalid_credentials")
    for session in (user, laptop):
        expect_problem(await me(app_client, session.access_token), 401, "session_revoked")
        expect_problem(
            await refresh(app_client, session.refresh_token), 401, "invalid_refresh_token"
        )
    reused = await app_client.post(
        RESET_CONFIRM, json={**confirm, "new_password": "yet another one"}
    )
    assert error_fields(expect_problem(reused, 422, "invalid_reset_token")) == ["token"]
    await sign_in(app_client, user.username, NEW_PASSWORD)


async def test_a_password_change_voids_older_reset_links(
    api: Api, app_client: httpx.AsyncClient
) -> None:
    user = await api.user("twice")
    for _ in range(2):
        sent = await app_client.post(RESET_REQUEST, json={"email": user.email})
        assert sent.status_code == 202, sent.text
    first, second = (
        reset_token(mail, api.server) for mail in await _wait_for_mails(api, user.email, 2)
    )
    assert first != second
    used = await app_client.post(
        RESET_CONFIRM, json={"token": second, "new_password": NEW_PASSWORD}
    )
    assert used.status_code == 204, used.text
    # A leaked older link must not reset the password again.
    late = await app_client.post(
        RESET_CONFIRM, json={"token": first, "new_password": "attacker's passphrase"}
    )
    expect_problem(late, 422, "invalid_reset_token")
    await sign_in(app_client, user.username, NEW_PASSWORD)


async def test_reset_for_an_unknown_email_looks_the_same_and_sends_nothing(
    api: Api, app_client: httpx.AsyncClient
) -> None:
    known = await api.register("known")
    unknown = f"{unique_name('nobody')}@example.com"
    answers = [
        await app_client.post(RESET_REQUEST, json={"email": email})
        for email in (unknown, known["email"])
    ]
    assert [answer.status_code for answer in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    # The relay publishes in commit order: once the known mail is out, nothing else is pending.
    await api.wait_for_mail(known["email"])
    assert api.mails_to(unknown) == []


# --- rate limits (a second server with strict limits) --------------------------------------


@pytest.fixture
async def strict_api(
    migrated_postgres: str, redis_url: str, s3_config: S3Config, tmp_path: Path
) -> AsyncIterator[Api]:
    settings = production_settings(
        postgres_url=migrated_postgres,
        redis_url=redis_url,
        s3=s3_config,
        data_dir=tmp_path,
        port=free_port(),
        rate_limit_login="3/60",
        rate_limit_password_reset="3/60",
        trust_forwarded_for=True,  # each test speaks from addresses of its own
    )
    server, stop = await start_live_server(settings)
    helper = Api(server)
    try:
        yield helper
    finally:
        await helper.aclose()
        await stop()


def _expect_rate_limited(response: httpx.Response, window: int) -> None:
    body = expect_problem(response, 429, "rate_limited")
    assert body["retryable"] is True
    assert 1 <= int(response.headers["retry-after"]) <= window


async def test_login_attempts_are_limited_per_account_and_address(strict_api: Api) -> None:
    created = await strict_api.register("limited")
    client, ip = strict_api.client, {"X-Forwarded-For": _random_ip()}
    wrong = {"login": created["username"], "password": "guessing wrongly"}
    for _ in range(3):
        expect_problem(await client.post(LOGIN, json=wrong, headers=ip), 401, "invalid_credentials")
    right = {"login": created["username"], "password": PASSWORD}
    _expect_rate_limited(await client.post(LOGIN, json=right, headers=ip), 60)
    # Only this account from this address is held back.
    elsewhere = await client.post(LOGIN, json=right, headers={"X-Forwarded-For": _random_ip()})
    assert elsewhere.status_code == 200, elsewhere.text
    neighbour = await strict_api.register("neighbour")
    other = {"login": neighbour["username"], "password": PASSWORD}
    assert (await client.post(LOGIN, json=other, headers=ip)).status_code == 200


async def test_one_account_gets_the_same_guesses_by_username_or_email(strict_api: Api) -> None:
    created = await strict_api.register("either")
    client, ip = strict_api.client, {"X-Forwarded-For": _random_ip()}
    names = [created["username"], created["email"].upper(), created["username"]]
    for login in names:  # the limit is 3: each name of the account spends the same attempts
        wrong = {"login": login, "password": "guessing wrongly"}
        expect_problem(await client.post(LOGIN, json=wrong, headers=ip), 401, "invalid_credentials")
    right = {"login": created["email"], "password": PASSWORD}
    _expect_rate_limited(await client.post(LOGIN, json=right, headers=ip), 60)
    # A login that names no account is limited by its text, the same way.
    unknown = {"login": f"{unique_name('nobody')}@example.com", "password": "guessing"}
    for _ in range(3):
        expect_problem(
            await client.post(LOGIN, json=unknown, headers=ip), 401, "invalid_credentials"
        )
    _expect_rate_limited(await client.post(LOGIN, json=unknown, headers=ip), 60)


async def test_password_reset_requests_are_limited_per_address_and_email(
    strict_api: Api,
) -> None:
    client, ip = strict_api.client, {"X-Forwarded-For": _random_ip()}
    for _ in range(3):
        email = {"email": f"{unique_name('reset')}@example.com"}
        assert (await client.post(RESET_REQUEST, json=email, headers=ip)).status_code == 202
    fresh = {"email": f"{unique_name('reset')}@example.com"}
    _expect_rate_limited(await client.post(RESET_REQUEST, json=fresh, headers=ip), 60)

    target = {"email": f"{unique_name('target')}@example.com"}
    for _ in range(3):
        spread = {"X-Forwarded-For": _random_ip()}
        assert (await client.post(RESET_REQUEST, json=target, headers=spread)).status_code == 202
    blocked = await client.post(
        RESET_REQUEST, json=target, headers={"X-Forwarded-For": _random_ip()}
    )
    _expect_rate_limited(blocked, 60)
    assert blocked.headers["content-type"].startswith(PROBLEM_JSON)
