"""The whole journey in two real browsers, as people use the product every day:

register → schedule a meeting that needs approval → copy its invite link → a second person
opens it, passes the pre-join screen and waits in the lobby → the host admits them from the
room → they see and hear each other → chat both ways → a screen share → the host mutes the
guest → the guest leaves → the host ends it → it is in both people's history.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Browser, Locator

from tests.browser.harness import (
    ARTIFACTS,
    Factory,
    Participant,
    eventually,
    flowing,
    wait_for_js,
)
from tests.support.api import PASSWORD, UserSession
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.integration


async def test_register_schedule_admit_meet_and_find_it_in_history(
    browser: Browser, people: Factory, live_server: LiveServer
) -> None:
    # --- the host registers in the browser ---------------------------------------------------
    context = await browser.new_context(
        base_url=live_server.url, viewport={"width": 1100, "height": 760}
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = await context.new_page()
    name = f"host_{uuid.uuid4().hex[:8]}"
    await page.goto("/signup")
    await page.get_by_test_id("signup-username").fill(name)
    await page.get_by_test_id("signup-email").fill(f"{name}@example.com")
    await page.get_by_test_id("signup-password").fill(PASSWORD)
    await page.get_by_test_id("signup-confirm").fill(PASSWORD)
    await page.get_by_test_id("signup-submit").click()
    await page.get_by_test_id("home").wait_for()
    me = await (await page.request.get("/api/v1/users/me")).json()
    host = Participant(
        name="journey-host",
        user=UserSession(
            id=uuid.UUID(me["id"]),
            username=name,
            email=f"{name}@example.com",
            password=PASSWORD,
            access_token="",
            refresh_token="",
            client=None,  # type: ignore[arg-type]  # this person only uses the browser
        ),
        context=context,
        page=page,
    )

    # --- a meeting that needs the host's approval -------------------------------------------
    await page.get_by_role("link", name="New meeting").click()
    await page.get_by_test_id("meeting-form").wait_for()
    await page.get_by_label("Title").fill("Journey sync")
    await page.get_by_label("Ask me before people join").check()
    await page.get_by_role("button", name="Schedule").click()
    entry = (
        page.get_by_test_id("upcoming").get_by_test_id("meeting").filter(has_text="Journey sync")
    )
    await entry.wait_for()
    await entry.get_by_role("button", name="Copy invite link").click()
    await entry.get_by_test_id("invite-copied").wait_for()
    link: str = await page.evaluate("() => navigator.clipboard.readText()")
    assert re.fullmatch(rf"{re.escape(live_server.url)}/join/[\w-]+\?invite=[\w-]+", link), link
    meeting_id = link.split("/join/")[1].split("?")[0]
    await host.screenshot("journey-1-dashboard")

    # --- the host opens the room -------------------------------------------------------------
    await entry.get_by_test_id("meeting-join").click()
    await page.get_by_test_id("prejoin").wait_for()
    await page.get_by_role("button", name="Join", exact=True).click()
    await page.get_by_test_id("room").wait_for()

    # --- the guest follows the link: pre-join, then the lobby --------------------------------
    guest = await people("guest")
    await guest.sign_in(link.removeprefix(live_server.url))
    await guest.page.get_by_test_id("prejoin").wait_for()
    await guest.screenshot("journey-2-prejoin")
    await guest.page.get_by_role("button", name="Join", exact=True).click()
    await guest.page.get_by_test_id("lobby").wait_for()
    await guest.screenshot("journey-3-lobby")

    # --- the host admits them from the room -------------------------------------------------
    toast = page.get_by_test_id("toast").filter(has_text=guest.user.username)
    await toast.wait_for(timeout=10_000)
    await toast.get_by_role("button", name="Review").click()
    await page.get_by_role("button", name=f"Admit {guest.user.username}").click()
    await guest.page.get_by_test_id("room").wait_for()
    await wait_for_js(guest.page, "window.meetingSession?.status === 'joined'")

    # --- they see and hear each other --------------------------------------------------------
    await flowing(host, guest)
    await flowing(guest, host)
    await host.screenshot("journey-4-together")

    # --- chat both ways -----------------------------------------------------------------------
    for sender, receiver, text in ((host, guest, "welcome!"), (guest, host, "thanks, hi")):
        chat = sender.page.get_by_test_id("chat-input")
        if not await chat.is_visible():
            await sender.page.get_by_test_id("toggle-chat").click()
        await chat.fill(text)
        await chat.press("Enter")
        if not await receiver.page.get_by_test_id("chat-input").is_visible():
            await receiver.page.get_by_test_id("toggle-chat").click()
        await receiver.page.get_by_test_id("chat-message").filter(has_text=text).wait_for()

    # --- the guest shares a screen ----------------------------------------------------------
    await guest.page.get_by_test_id("toggle-screen").click()
    await page.locator(host.tile(guest, "screen")).wait_for(timeout=10_000)
    await flowing(host, guest, "screen")
    await host.screenshot("journey-5-screen")
    await guest.page.get_by_test_id("toggle-screen").click()  # stop sharing
    await page.locator(host.tile(guest, "screen")).wait_for(state="detached", timeout=10_000)

    # --- the host mutes the guest -------------------------------------------------------------
    await page.get_by_role("button", name="People").click()
    panel = page.get_by_test_id("people-panel")
    await panel.get_by_role("button", name=f"Mute {guest.user.username}").click()
    await wait_for_js(guest.page, "window.meetingSession.micOn === false")
    await wait_for_js(
        page,
        "(s) => document.querySelector(s)?.dataset.audioMuted === 'true'",
        arg=host.tile(guest),
    )

    # --- the guest leaves; the host ends the meeting -------------------------------------------
    await guest.page.get_by_test_id("leave").click()
    await page.locator(host.tile(guest)).wait_for(state="detached", timeout=10_000)
    await page.get_by_role("button", name="End for all").click()
    await page.get_by_test_id("confirm-dialog").get_by_role("button", name="End for all").click()
    await page.get_by_test_id("room-ended").wait_for()

    # --- it is in both people's history --------------------------------------------------------
    for person in (host, guest):
        await person.page.goto("/")
        past = person.page.get_by_test_id("history").locator(
            f'[data-testid="meeting"][data-id="{meeting_id}"]'
        )

        async def listed(entry: Locator = past) -> bool:
            return await entry.count() == 1

        await eventually(listed, 10, f"the meeting in {person.name}'s history")
        await person.screenshot("journey-6-history")
    assert (ARTIFACTS / "journey-6-history-guest.png").exists()
    await context.close()
