"""The meetings dashboard and the way into a meeting, in real browsers: schedule a meeting with
its settings, find it at the right time, edit and cancel it; copy an invite link; the pre-join
screen (camera preview, microphone level), a meeting password, the lobby (denied, admitted);
the history of a finished meeting.

What is checked is what a person sees, and what the API then holds.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from playwright.async_api import Locator, Page

from tests.browser.harness import Factory, Participant, eventually, invite_link, wait_for_js
from tests.support.api import Api
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.integration

PASSWORD = "open sesame"


async def dashboard(person: Participant) -> None:
    await person.page.get_by_test_id("home").wait_for()
    await (
        person.page.get_by_test_id("upcoming")
        .get_by_test_id("upcoming-empty")
        .or_(person.page.get_by_test_id("upcoming").get_by_test_id("meeting").first)
        .wait_for()
    )


def item(page: Page, list_name: str, meeting_id: str) -> Locator:
    return page.get_by_test_id(list_name).locator(
        f'[data-testid="meeting"][data-id="{meeting_id}"]'
    )


async def api_meeting(person: Participant, meeting_id: str) -> dict[str, Any]:
    response = await person.user.client.get(f"/api/v1/meetings/{meeting_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def local_day(page: Page, days_ahead: int) -> str:
    """A date on the browser's own calendar (the form works in its time zone)."""
    day: str = await page.evaluate(
        """(days) => {
            const d = new Date(Date.now() + days * 86400000);
            const pad = (n) => String(n).padStart(2, '0');
            return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
        }""",
        days_ahead,
    )
    return day


async def instant(page: Page, local: str) -> str:
    """The UTC instant the browser means by a local `datetime-local` value."""
    iso: str = await page.evaluate("(value) => new Date(value).toISOString()", local)
    return iso


def same_instant(api_value: str, browser_iso: str) -> bool:
    return datetime.fromisoformat(api_value) == datetime.fromisoformat(browser_iso)


def normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u202f", " ")).strip()


async def in_room(person: Participant) -> None:
    await person.page.get_by_test_id("room").wait_for()
    await wait_for_js(person.page, "window.meetingSession?.status === 'joined'")


async def test_schedule_find_edit_and_cancel_a_meeting(people: Factory) -> None:
    host = await people("host")
    page = host.page
    await host.sign_in("/")
    await dashboard(host)
    await host.screenshot("meetings-1-dashboard-empty")

    await page.get_by_role("link", name="New meeting").click()
    await page.get_by_test_id("meeting-form").wait_for()
    day = await local_day(page, 2)
    await page.get_by_label("Title").fill("Quarterly planning")
    await page.get_by_label("Description").fill("Budget and roadmap")
    await page.get_by_label("Type").select_option("audio")
    await page.get_by_label("Starts").fill(f"{day}T14:30")
    await page.get_by_label("Ends").fill(f"{day}T13:00")  # before the start: the API says no
    await page.get_by_label("Meeting password").fill(PASSWORD)
    await page.get_by_label("Maximum participants").fill("12")
    await page.get_by_label("Ask me before people join").check()
    await page.get_by_label("Mute people when they join").check()
    await page.get_by_label("Chat", exact=True).uncheck()
    await page.get_by_label("Recording").check()
    await page.get_by_role("button", name="Schedule").click()

    # The API's 422 appears next to the field it names, in plain words.
    end_error = page.get_by_test_id("error-end_time")
    await end_error.wait_for()
    assert "end must be after the start" in await end_error.inner_text()
    assert await page.get_by_label("Ends").get_attribute("aria-invalid") == "true"
    assert await page.get_by_test_id("form-error").is_visible()
    await host.screenshot("meetings-2-form-error")

    await page.get_by_label("Ends").fill(f"{day}T15:45")
    await page.get_by_role("button", name="Schedule").click()
    flash = page.get_by_test_id("flash")
    await flash.wait_for()
    assert "Quarterly planning" in await flash.inner_text()

    # In the upcoming list at the right time, with its status and my role.
    entry = (
        page.get_by_test_id("upcoming")
        .get_by_test_id("meeting")
        .filter(has_text="Quarterly planning")
    )
    await entry.wait_for()
    meeting_id = await entry.get_attribute("data-id")
    assert meeting_id
    when = normalized(await entry.get_by_test_id("meeting-time").inner_text())
    assert "2:30 PM" in when and "3:45 PM" in when, when
    expected_day: str = await page.evaluate(
        "(value) => new Intl.DateTimeFormat('en', {dateStyle: 'medium'}).format(new Date(value))",
        f"{day}T14:30",
    )
    assert when.startswith(expected_day), (when, expected_day)
    assert await entry.get_by_test_id("meeting-status").inner_text() == "Scheduled"
    assert await entry.get_by_test_id("meeting-role").inner_text() == "Host"
    await host.screenshot("meetings-3-dashboard-scheduled")

    stored = await api_meeting(host, meeting_id)
    assert same_instant(stored["start_time"], await instant(page, f"{day}T14:30"))
    assert same_instant(stored["end_time"], await instant(page, f"{day}T15:45"))
    assert stored["description"] == "Budget and roadmap"
    assert stored["meeting_type"] == "audio"
    assert stored["has_password"] is True
    assert stored["max_participants"] == 12
    settings = stored["settings"]
    assert settings["require_approval"] and settings["mute_on_join"] and settings["recording"]
    assert not settings["chat"] and settings["screen_share"] and not settings["ai"]

    # Edit the title: the form shows what is stored, and only the title changes.
    await entry.get_by_role("link", name="Edit").click()
    await page.get_by_test_id("meeting-form").wait_for()
    assert await page.get_by_label("Title").input_value() == "Quarterly planning"
    assert await page.get_by_label("Recording").is_checked()
    assert not await page.get_by_label("Chat", exact=True).is_checked()
    assert await page.get_by_label("Starts").input_value() == f"{day}T14:30"
    await host.screenshot("meetings-4-edit")
    await page.get_by_label("Title").fill("Quarterly planning (moved)")
    await page.get_by_role("button", name="Save").click()
    await item(page, "upcoming", meeting_id).filter(has_text="(moved)").wait_for()
    edited = await api_meeting(host, meeting_id)
    assert edited["title"] == "Quarterly planning (moved)"
    assert {key: edited[key] for key in ("start_time", "settings", "has_password")} == {
        key: stored[key] for key in ("start_time", "settings", "has_password")
    }

    # Cancel, after a confirmation: gone from upcoming, in the history as cancelled.
    entry = item(page, "upcoming", meeting_id)
    await entry.get_by_role("button", name="Cancel meeting").click()
    confirm = entry.get_by_test_id("cancel-confirm")
    assert "Quarterly planning (moved)" in await confirm.inner_text()
    await host.screenshot("meetings-5-cancel-confirm")
    await confirm.get_by_role("button", name="Yes, cancel it").click()
    await page.get_by_test_id("dashboard-notice").wait_for()
    await entry.wait_for(state="detached")
    past = item(page, "history", meeting_id)
    await past.wait_for()
    assert await past.get_by_test_id("meeting-status").inner_text() == "Cancelled"
    assert (await api_meeting(host, meeting_id))["status"] == "cancelled"


async def test_copy_an_invite_link_and_follow_it_after_signing_in(
    people: Factory, api: Api, live_server: LiveServer
) -> None:
    host, guest = await people("host"), await people("guest")
    meeting = await api.meeting(host.user, title="Design review")
    await host.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=live_server.url
    )
    await host.sign_in("/")
    await dashboard(host)
    entry = item(host.page, "upcoming", meeting["id"])
    await entry.get_by_role("button", name="Copy invite link").click()
    await entry.get_by_test_id("invite-copied").wait_for()
    assert await entry.get_by_test_id("invite-copied").inner_text() == "Copied"
    link: str = await host.page.evaluate("() => navigator.clipboard.readText()")
    assert re.fullmatch(
        rf"{re.escape(live_server.url)}/join/{meeting['id']}\?invite=[\w-]+", link
    ), link
    await host.screenshot("meetings-6-copied")

    # Where the clipboard refuses, the link is shown, selected, to copy by hand.
    await host.page.evaluate(
        "() => { navigator.clipboard.writeText = () => Promise.reject(new Error('denied')); }"
    )
    await entry.get_by_role("button", name="Copy invite link").click()
    shown = entry.get_by_test_id("invite-link")
    await shown.wait_for()
    fallback = await shown.input_value()
    assert fallback.startswith(f"{live_server.url}/join/{meeting['id']}?invite=")
    assert await host.page.evaluate(
        """() => {
            const field = document.activeElement;
            return field?.dataset.testid === 'invite-link'
                && field.selectionStart === 0 && field.selectionEnd === field.value.length;
        }"""
    )

    # Someone signed out follows the copied link: sign-in first, then straight to pre-join.
    await guest.sign_in(link.removeprefix(live_server.url))
    await guest.page.get_by_test_id("prejoin").wait_for()
    assert "invite=" in guest.page.url
    await guest.page.get_by_role("button", name="Join", exact=True).click()
    await in_room(guest)


LEVELS_JS = """() => new Promise((resolve) => {
    const meter = document.querySelector('[data-testid="mic-level"]');
    const values = [];
    const timer = setInterval(() => {
        values.push(meter.value);
        if (values.length === 30) { clearInterval(timer); resolve(values); }
    }, 100);
})"""


async def test_password_meeting_through_the_pre_join_screen(people: Factory) -> None:
    host, guest = await people("host"), await people("guest")

    # The host starts a password meeting straight from the form: pre-join shows its title.
    await host.sign_in("/meetings/new")
    await host.page.get_by_label("Title").fill("Board meeting")
    await host.page.get_by_label("Meeting password").fill(PASSWORD)
    await host.page.get_by_role("button", name="Start now").click()
    await host.page.get_by_test_id("prejoin").wait_for()
    assert await host.page.get_by_test_id("prejoin-title").inner_text() == "Board meeting"
    await host.page.get_by_role("button", name="Join", exact=True).click()
    await in_room(host)
    meeting_id = host.page.url.rsplit("/join/", 1)[1]

    # The guest opens the meeting's address (no invite): camera preview and a moving meter.
    page = guest.page
    await guest.sign_in(f"/join/{meeting_id}")
    await page.get_by_test_id("prejoin").wait_for()
    await wait_for_js(
        page, "document.querySelector('[data-testid=\"prejoin-video\"]')?.videoWidth > 0"
    )
    levels: list[float] = await page.evaluate(LEVELS_JS)
    assert max(levels) > 0.02 and len(set(levels)) > 3, levels
    assert await page.get_by_test_id("mic-select").locator("option").count() >= 1
    assert await page.get_by_test_id("camera-select").locator("option").count() >= 1
    await guest.screenshot("meetings-7-prejoin")

    # Microphone off: the meter falls silent; camera off: the room starts with it off.
    await page.get_by_role("button", name="Turn microphone off").click()
    await eventually(
        lambda: page.evaluate(
            "() => document.querySelector('[data-testid=\"mic-level\"]').value === 0"
        ),
        3,
        "a silent meter",
    )
    await page.get_by_role("button", name="Turn microphone on").click()
    await page.get_by_role("button", name="Turn camera off").click()
    assert await page.get_by_test_id("prejoin-camera-off").is_visible()

    await page.get_by_role("button", name="Join", exact=True).click()
    await page.get_by_test_id("password-form").wait_for()
    # Nothing of the preview is left running once the person asked to join.
    assert await page.evaluate("() => document.querySelector('video') === null")
    await page.get_by_label("Password", exact=True).fill("not it")
    await page.get_by_role("button", name="Join").click()
    error = page.get_by_test_id("password-error")
    await error.wait_for()
    assert await error.inner_text() == "That password is not right."
    await guest.screenshot("meetings-8-wrong-password")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Join").click()
    await in_room(guest)
    # The microphone and camera open alongside the socket: wait until they have.
    await wait_for_js(page, "window.meetingSession.localStream !== null")
    state = await page.evaluate(
        "() => ({mic: window.meetingSession.micOn, camera: window.meetingSession.cameraOn})"
    )
    assert state == {"mic": True, "camera": False}

    # The room knows the guest's camera is off (and publishes it, ready to turn on); the host
    # sees it so.
    async def camera_off_in_room() -> bool:
        response = await host.user.client.get(f"/api/v1/meetings/{meeting_id}/room")
        me = [p for p in response.json()["participants"] if p["user_id"] == guest.user_id]
        return bool(me) and me[0]["video_muted"] and not me[0]["audio_muted"]

    await eventually(camera_off_in_room, 10, "the guest's camera off in the room")
    tile = host.page.locator(host.tile(guest))
    await tile.wait_for()
    assert await tile.get_attribute("data-video-muted") == "true"
    await guest.screenshot("meetings-9-room")


async def in_lobby(host: Participant, meeting_id: str, person: Participant) -> bool:
    response = await host.user.client.get(f"/api/v1/meetings/{meeting_id}/lobby")
    assert response.status_code == 200, response.text
    return person.user_id in {entry["user"]["id"] for entry in response.json()}


async def test_lobby_denied_admitted_and_the_history(people: Factory) -> None:
    host, dan, amy = await people("host"), await people("dan"), await people("amy")
    response = await host.user.client.post(
        "/api/v1/meetings", json={"title": "Hiring panel", "settings": {"require_approval": True}}
    )
    assert response.status_code == 201, response.text
    meeting_id = response.json()["id"]
    link = await invite_link(host, meeting_id)
    lobby = f"/api/v1/meetings/{meeting_id}/lobby"

    # Dan reads the site in Chinese: the dashboard, the pre-join screen and the lobby.
    await dan.sign_in("/")
    await dashboard(dan)
    await dan.page.get_by_test_id("language").select_option("zh-CN")
    await dan.page.get_by_role("heading", name="我的会议").wait_for()
    await dan.screenshot("meetings-10-dashboard-zh")
    await dan.page.get_by_role("link", name="新建会议").click()
    await dan.page.get_by_role("heading", name="预约会议").wait_for()
    await dan.screenshot("meetings-10-form-zh")
    await dan.page.goto(link)
    await dan.page.get_by_test_id("prejoin").wait_for()
    await wait_for_js(
        dan.page, "document.querySelector('[data-testid=\"prejoin-video\"]')?.videoWidth > 0"
    )
    await dan.screenshot("meetings-11-prejoin-zh")
    await dan.page.get_by_role("button", name="加入", exact=True).click()
    status = dan.page.get_by_test_id("lobby-status")
    await status.wait_for()
    assert await status.inner_text() == f"正在等待 {host.user.username} 允许您进入…"
    assert await dan.page.get_by_role("heading", name="Hiring panel").is_visible()
    await dan.screenshot("meetings-12-lobby-zh")

    # The host declines through the API: Dan's lobby says so, with a way back.
    await eventually(lambda: in_lobby(host, meeting_id, dan), 5, "Dan in the lobby")
    assert (await host.user.client.post(f"{lobby}/{dan.user_id}/deny")).status_code == 204
    denied = dan.page.get_by_test_id("lobby-denied")
    await denied.wait_for(timeout=10_000)
    assert await denied.inner_text() == "主持人拒绝了您的入会请求。"
    assert await dan.page.get_by_test_id("join-back").is_visible()
    await dan.screenshot("meetings-13-denied-zh")

    # Amy waits (in English), is admitted, and her lobby turns into the room.
    await amy.sign_in(link)
    await amy.page.get_by_test_id("prejoin-join").click()
    await amy.page.get_by_test_id("lobby").wait_for()
    waiting = amy.page.get_by_test_id("lobby-status")
    assert await waiting.inner_text() == f"Waiting for {host.user.username} to let you in…"
    await amy.screenshot("meetings-14-lobby")
    await eventually(lambda: in_lobby(host, meeting_id, amy), 5, "Amy in the lobby")
    assert (await host.user.client.post(f"{lobby}/{amy.user_id}/admit")).status_code == 204
    await amy.page.get_by_test_id("room").wait_for(timeout=10_000)
    await wait_for_js(amy.page, "window.meetingSession?.status === 'joined'")

    # The host ends it: both find it in their history, Dan (never let in) does not.
    ended = await host.user.client.post(f"/api/v1/meetings/{meeting_id}/end")
    assert ended.status_code == 200, ended.text
    await amy.page.get_by_test_id("room-ended").wait_for(timeout=10_000)
    await amy.page.goto("/")
    await host.sign_in("/")
    for person, role in ((amy, "Participant"), (host, "Host")):
        past = item(person.page, "history", meeting_id)
        await past.wait_for()
        assert await past.get_by_test_id("meeting-status").inner_text() == "Ended"
        assert await past.get_by_test_id("meeting-role").inner_text() == role
        assert await item(person.page, "upcoming", meeting_id).count() == 0
    await host.screenshot("meetings-15-history")
    await dan.page.goto("/")
    await dashboard(dan)
    await dan.page.get_by_test_id("history").get_by_test_id("history-empty").wait_for()


async def test_long_lists_come_in_pages(people: Factory, api: Api) -> None:
    host = await people("host")
    for number in range(12):
        await api.meeting(host.user, title=f"Standup {number:02}")
    await host.sign_in("/")
    await dashboard(host)
    upcoming = host.page.get_by_test_id("upcoming")
    assert await upcoming.get_by_test_id("meeting").count() == 10
    assert await upcoming.get_by_test_id("page-info").inner_text() == "Page 1 of 2"
    assert await upcoming.get_by_role("button", name="Previous").is_disabled()
    await upcoming.get_by_role("button", name="Next").click()
    await upcoming.get_by_test_id("page-info").filter(has_text="Page 2 of 2").wait_for()
    assert await upcoming.get_by_test_id("meeting").count() == 2
    assert await upcoming.get_by_role("button", name="Next").is_disabled()
    titles = await upcoming.get_by_test_id("meeting-name").all_inner_texts()
    assert all(title.startswith("Standup") for title in titles)
