"""Acting on one's own account over HTTP, shared by the account test modules."""

from __future__ import annotations

import re
import uuid
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from tests.support.api import PASSWORD
from tests.support.live_server import LiveServer

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"
RESET_REQUEST = "/api/v1/auth/password-reset/request"
RESET_CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "a brand new passphrase"
_RESET_LINK = re.compile(r"(?P<base>https?://\S+)/reset-password\?token=(?P<token>[A-Za-z0-9_-]+)")


def unique_name(prefix: str = "acct") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookieless_client(base_url: str) -> httpx.AsyncClient:
    """A client like a mobile app: it sends Bearer tokens and never keeps cookies."""
    jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(base_url=base_url, cookies=jar, timeout=30)


async def sign_in(
    client: httpx.AsyncClient, login: str, password: str = PASSWORD
) -> dict[str, Any]:
    """Sign in, expecting success; returns the token response."""
    response = await client.post(LOGIN, json={"login": login, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def me(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get(ME, headers=bearer(access_token))


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": refresh_token})


def reset_token(mail: dict[str, Any], server: LiveServer) -> str:
    """The token of the reset link in a password-reset mail (the link points at the server)."""
    match = _RESET_LINK.search(mail["text"])
    assert match is not None, mail["text"]
    assert match["base"] == server.settings.public_url
    return match["token"]
