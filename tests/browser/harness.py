"""Helpers for browser tests: participants (one browser context each) and polling."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from playwright.async_api import BrowserContext, Page

from tests.support.api import UserSession
from tests.support.paths import REPO_ROOT

ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "browser"
T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], seconds: float = 10.0, what: str = "condition"
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not reached within {seconds} s (last: {last!r})")


async def wait_for_js(
    page: Page, expression: str, *, arg: Any = None, timeout_ms: float = 30_000
) -> Any:
    """What ``page.wait_for_function`` does, without eval in the page: Playwright evaluates that
    predicate with eval, which the client's Content-Security-Policy forbids (no 'unsafe-eval'),
    while ``page.evaluate`` goes through the DevTools protocol, which the policy does not
    govern."""
    return await eventually(
        lambda: page.evaluate(expression, arg), seconds=timeout_ms / 1000, what=expression
    )


@dataclass
class Participant:
    """One person in one browser context."""

    name: str
    user: UserSession
    context: BrowserContext
    page: Page
    log: list[str] = field(default_factory=list)

    @property
    def user_id(self) -> str:
        return str(self.user.id)

    async def sign_in(self, path: str) -> None:
        """Open ``path``, sign in through the form, and wait for the room or the home page."""
        await self.page.goto(path)
        await self.page.get_by_label("Username or email").fill(self.user.username)
        await self.page.get_by_label("Password").fill(self.user.password)
        await self.page.get_by_role("button", name="Sign in").click()

    async def stats(self) -> list[dict[str, Any]]:
        """The page's receive statistics, one entry per incoming track."""
        result: list[dict[str, Any]] = await self.page.evaluate(
            "async () => window.meetingSession ? await window.meetingSession.inboundStats() : []"
        )
        return result

    async def received(self, sender: Participant, source: str, kind: str) -> dict[str, Any]:
        for stat in await self.stats():
            if (stat["user_id"], stat["source"], stat["kind"]) == (sender.user_id, source, kind):
                return stat
        return {}

    def tile(self, other: Participant, source: str = "camera") -> str:
        return f'[data-testid="tile"][data-user-id="{other.user_id}"][data-source="{source}"]'

    async def video_width(self, other: Participant, source: str = "camera") -> int:
        width: int = await self.page.evaluate(
            """(selector) => {
                const video = document.querySelector(selector + ' video');
                return video ? video.videoWidth : 0;
            }""",
            self.tile(other, source),
        )
        return width

    async def screenshot(self, step: str) -> None:
        await self.page.screenshot(path=ARTIFACTS / f"{step}-{self.name}.png")


def write_artifact(name: str, data: Any) -> None:
    (ARTIFACTS / name).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


Factory = Callable[[str], Awaitable[Participant]]
"""The ``people`` fixture: ``await people("ann")`` makes a participant named ann."""


async def in_room(person: Participant) -> None:
    """Through the pre-join screen (camera preview, device choice) into the room."""
    await person.page.get_by_test_id("prejoin-join").click()
    await person.page.get_by_test_id("room").wait_for()
    await wait_for_js(person.page, "window.meetingSession?.status === 'joined'")


async def invite_link(host: Participant, meeting_id: str) -> str:
    """A shareable invite link to the meeting, made by ``host``, as the page's path."""
    response = await host.user.client.post(f"/api/v1/meetings/{meeting_id}/invites", json={})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return f"/join/{meeting_id}?invite={token}"


async def flowing(viewer: Participant, sender: Participant, source: str = "camera") -> None:
    """Video frames are decoded and (for cameras) audio packets arrive, and both keep rising."""
    kinds = ["video", "audio"] if source == "camera" else ["video"]
    counter = {"video": "framesDecoded", "audio": "packetsReceived"}
    sources = {"video": source, "audio": "microphone"}

    async def count(kind: str) -> int:
        value: int = (await viewer.received(sender, sources[kind], kind)).get(counter[kind], 0)
        return value

    before = {kind: await count(kind) for kind in kinds}

    now: dict[str, int] = {}

    async def rising() -> bool:
        for kind in kinds:
            now[kind] = await count(kind)
        return all(now[kind] >= before[kind] + 5 for kind in kinds)

    what = f"{viewer.name} receiving {sender.name}'s {source}"
    try:
        await eventually(rising, 10, what)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {before} -> {now}; {await viewer.stats()}") from exc
