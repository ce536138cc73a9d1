"""Acting on a live server as people do: anonymous requests, registered users, administrators,
meetings, and the mails the server sends."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.live_server import LiveServer

PASSWORD = "correct horse battery"


@dataclass
class UserSession:
    """A registered, signed-in user and an HTTP client that sends their Bearer token."""

    id: uuid.UUID
    username: str
    email: str
    password: str
    access_token: str
    refresh_token: str
    client: httpx.AsyncClient
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class Api:
    """Acts on a live server: anonymous requests and user sessions."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.client = httpx.AsyncClient(base_url=server.url, timeout=30)
        self._clients: list[httpx.AsyncClient] = [self.client]

    def new_client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.server.url, timeout=30)
        self._clients.append(client)
        return client

    async def register(self, prefix: str = "user", *, password: str = PASSWORD) -> dict[str, Any]:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        response = await self.client.post(
            "/api/v1/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": password},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def user(self, prefix: str = "user") -> UserSession:
        """A new user, signed in, with a client that sends their Bearer token."""
        created = await self.register(prefix)
        return await self.login(created["username"], created["email"])

    async def login(self, username: str, email: str, password: str = PASSWORD) -> UserSession:
        response = await self.client.post(
            "/api/v1/auth/login", json={"login": username, "password": password}
        )
        assert response.status_code == 200, response.text
        self.client.cookies.clear()  # the shared client stays anonymous
        tokens = response.json()
        client = self.new_client()
        client.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        return UserSession(
            id=uuid.UUID(tokens["user"]["id"]),
            username=username,
            email=email,
            password=password,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            client=client,
        )

    async def admin(self) -> UserSession:
        """A new administrator (bootstrapped the way ``meeting admin create`` does)."""
        from meeting_shared.services.accounts import Registration
        from meeting_shared.services.user_admin import create_admin

        name = f"admin_{uuid.uuid4().hex[:10]}"
        container = self.server.container
        async with container.db.session() as session:
            await create_admin(
                container.unit_of_work(session),
                container.hasher,
                Registration(username=name, email=f"{name}@example.com", password=PASSWORD),
            )
        return await self.login(name, f"{name}@example.com")

    async def meeting(self, host: UserSession, **fields: Any) -> dict[str, Any]:
        response = await host.client.post(
            "/api/v1/meetings", json={"title": "Weekly sync", **fields}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def mails_to(self, address: str) -> list[dict[str, Any]]:
        path = self.server.mail_file
        if not path.exists():
            return []
        mails = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [mail for mail in mails if mail["to"] == address]

    async def wait_for_mail(self, address: str, seconds: float = 5.0) -> dict[str, Any]:
        for _ in range(int(seconds / 0.05)):
            mails = self.mails_to(address)
            if mails:
                return mails[-1]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no mail reached {address} within {seconds} s")

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
