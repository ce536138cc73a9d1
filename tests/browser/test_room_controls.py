"""The room's controls in real browsers: raised hands, roles, chat history and unread counts,
the lobby seen from inside the room, switching camera and microphone without leaving, ending
the meeting for everyone, connection quality, and the room on a phone and in Chinese.

Each participant is a separate browser context of one headless Chromium with fake devices
(one camera, three microphones).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.harness import (
    Factory,
    Participant,
    eventually,
    flowing,
    in_room,
    invite_link,
    wait_for_js,
)
from tests.support.api import Api

pytestmark = pytest.mark.integration


async def sign_in_as(person: Participant, path: str, locale: str) -> None:
    """Sign in through the API (the context keeps the cookies) and open ``path`` in ``locale``."""
    response = await person.page.request.post(
        "/api/v1/auth/login",
        data={"login": person.user.username, "password": person.user.password},
    )
    assert response.ok, await response.text()
    # The account's saved language wins over the browser's: set it as the person would.
    cookies = {cookie["name"]: cookie["value"] for cookie in await person.context.cookies()}
    saved = await person.page.request.patch(
        "/api/v1/users/me",
        data={"locale": locale},
        headers={"X-CSRF-Token": cookies["csrf_token"]},
    )
    assert saved.ok, await saved.text()
    await person.page.goto(path)


def person_row(other: Participant) -> str:
    """``other``'s row in the people panel."""
    return f'[data-testid="people-panel"] [data-testid="person"][data-user-id="{other.user_id}"]'


async def test_hands_roles_chat_history_and_unread(people: Factory, api: Api) -> None:
    host, ann, ben = await people("host"), await people("ann"), await people("ben")
    meeting = await api.meeting(host.user, title="Controls")
    link = await invite_link(host, meeting["id"])
    # Earlier chat, posted through the API before anyone is in the room: history for all.
    for i in range(55):
        posted = await host.user.client.post(
            f"/api/v1/meetings/{meeting['id']}/messages", json={"body": f"early {i}"}
        )
        assert posted.status_code == 201, posted.text
    await asyncio.gather(host.sign_in(f"/join/{meeting['id']}"), ann.sign_in(link))
    await asyncio.gather(in_room(host), in_room(ann))

    # Ann raises her hand: the host sees it on her tile and in the people panel.
    await ann.page.get_by_role("button", name="Raise hand").click()
    hand = host.page.locator(host.tile(ann)).get_by_test_id("tile-hand")
    await hand.wait_for(timeout=5000)
    assert await ann.page.get_by_test_id("toggle-hand").get_attribute("aria-pressed") == "true"
    await host.page.get_by_role("button", name="People").click()
    row = host.page.locator(person_row(ann))
    await row.get_by_test_id("person-hand").wait_for(timeout=5000)
    assert await row.get_by_test_id("person-role").inner_text() == "Participant"

    # The host makes Ann a co-host from the panel: both see it, and Ann gets the host controls.
    await row.get_by_label(f"Role of {ann.user.username}").select_option("co_host")
    await row.get_by_test_id("person-role").filter(has_text="Co-host").wait_for(timeout=5000)
    await ann.page.get_by_role("button", name="End for all").wait_for(timeout=5000)
    await ann.page.get_by_role("button", name="People").click()
    own_row = ann.page.locator(person_row(ann))
    assert await own_row.get_by_test_id("person-role").inner_text() == "Co-host"
    await host.screenshot("controls-1-people-panel")
    await ann.page.get_by_role("button", name="Lower hand").click()
    await hand.wait_for(state="hidden", timeout=5000)

    # The host's chat is closed (the people panel took its place): Ann's messages count as
    # unread on the toggle, and reading them clears the count.
    assert await host.page.get_by_test_id("chat-panel").is_hidden()
    await ann.page.get_by_role("button", name="Chat", exact=True).click()
    for body in ("first from ann", "second from ann"):
        await ann.page.get_by_label("Chat message", exact=True).fill(body)
        await ann.page.get_by_role("button", name="Send").click()
    unread = host.page.get_by_test_id("chat-unread")

    async def two_unread() -> bool:
        return await unread.is_visible() and await unread.inner_text() == "2"

    await eventually(two_unread, 5, "the host's unread count reaching 2")
    toggle = host.page.get_by_test_id("toggle-chat")
    assert await toggle.get_attribute("aria-label") == "Chat, 2 unread"
    announced = await host.page.get_by_test_id("room-announcer").inner_text()
    assert announced == f"Message from {ann.user.username}: second from ann"
    await host.screenshot("controls-2-unread")
    await toggle.click()
    await unread.wait_for(state="hidden")
    messages = host.page.get_by_test_id("chat-message")
    assert await messages.count() == 52  # the latest 50 of the history, then Ann's two
    assert (await messages.nth(51).inner_text()).endswith("second from ann")
    assert await toggle.get_attribute("aria-label") == "Chat"

    # Ben comes late, in Chinese: the chat so far is there (the latest 50 messages, earlier
    # ones on request), and the others hear he joined.
    await sign_in_as(ben, link, "zh-CN")
    await in_room(ben)
    history = ben.page.get_by_test_id("chat-message")
    await history.nth(49).wait_for(timeout=5000)
    bodies = [text.split("\n")[-1] for text in await history.all_inner_texts()]
    assert bodies[-2:] == ["first from ann", "second from ann"] and len(bodies) == 50
    await ben.page.get_by_test_id("chat-older").click()
    await history.nth(56).wait_for(timeout=5000)
    bodies = [text.split("\n")[-1] for text in await history.all_inner_texts()]
    assert bodies == [f"early {i}" for i in range(55)] + ["first from ann", "second from ann"]
    await ben.page.get_by_test_id("chat-older").wait_for(state="hidden")  # nothing older
    assert await ben.page.get_by_test_id("toggle-chat").inner_text() == "聊天"
    await wait_for_js(
        host.page,
        "(name) => document.querySelector('[data-testid=room-announcer]').textContent"
        " === name + ' joined.'",
        arg=ben.user.username,
        timeout_ms=5000,
    )
    await ben.page.locator(ben.tile(ann)).wait_for()
    await ben.page.get_by_test_id("toggle-people").click()
    await ben.page.locator(person_row(ann)).get_by_text("联席主持人").wait_for()
    await ben.screenshot("controls-3-zh-CN")


async def test_a_lobby_request_reaches_the_host_in_the_room(people: Factory, api: Api) -> None:
    host, guest = await people("host"), await people("guest")
    meeting = await api.meeting(host.user, title="Approval", settings={"require_approval": True})
    link = await invite_link(host, meeting["id"])
    await host.sign_in(f"/join/{meeting['id']}")
    await in_room(host)

    # The guest, on a phone, asks to join and waits (the join page polls).
    await guest.page.set_viewport_size({"width": 390, "height": 780})
    await guest.sign_in(link)
    await guest.page.get_by_test_id("prejoin-join").click()
    await guest.page.get_by_test_id("lobby").wait_for(timeout=10_000)

    # The host is told at once: a toast and a count on the people toggle.
    toast = host.page.get_by_test_id("toast").filter(has_text=guest.user.username)
    await toast.wait_for(timeout=5000)
    assert f"{guest.user.username} asks to join the meeting." in await toast.inner_text()
    assert await host.page.get_by_test_id("lobby-count").inner_text() == "1"
    await host.screenshot("lobby-1-toast")

    # Review opens the panel on the waiting person; admitting brings the guest in.
    await toast.get_by_role("button", name="Review").click()
    entry = host.page.locator(f'[data-testid="lobby-entry"][data-user-id="{guest.user_id}"]')
    await entry.wait_for()
    await host.screenshot("lobby-2-panel")
    await entry.get_by_role("button", name=f"Admit {guest.user.username}").click()
    await guest.page.get_by_test_id("room").wait_for()  # the lobby turns into the room
    await wait_for_js(guest.page, "window.meetingSession?.status === 'joined'")
    await host.page.get_by_test_id("lobby-count").wait_for(state="hidden", timeout=5000)
    assert await host.page.get_by_test_id("lobby").is_hidden()
    await host.page.locator(host.tile(guest)).wait_for(timeout=5000)
    await host.page.locator(person_row(guest)).wait_for(timeout=5000)

    # On the phone the tiles stack and the chat starts closed; it opens over the stage.
    await guest.page.locator(guest.tile(host)).wait_for()
    assert await guest.page.get_by_test_id("chat-panel").is_hidden()
    assert await guest.page.get_by_test_id("tiles").get_attribute("data-columns") == "1"
    await flowing(guest, host)
    await guest.screenshot("lobby-3-phone")
    await guest.page.get_by_role("button", name="Chat", exact=True).click()
    await guest.page.get_by_label("Chat message", exact=True).wait_for()
    await guest.screenshot("lobby-4-phone-chat")


SENDING_JS = """(kind) => {
    const session = window.meetingSession;
    const track = kind === 'audio' ? session.localStream.getAudioTracks()[0]
        : session.localStream.getVideoTracks()[0];
    const sent = session.publisher.getSenders().some((sender) => sender.track === track);
    return {id: track.id, label: track.label, sent, enabled: track.enabled,
            live: track.readyState === 'live', sdp: session.publisher.localDescription.sdp};
}"""


async def test_switch_devices_then_end_for_all(people: Factory, api: Api) -> None:
    host, ann = await people("host"), await people("ann")
    meeting = await api.meeting(host.user, title="Devices")
    link = await invite_link(host, meeting["id"])
    await asyncio.gather(host.sign_in(f"/join/{meeting['id']}"), ann.sign_in(link))
    await asyncio.gather(in_room(host), in_room(ann))
    await flowing(host, ann)

    # The connection quality indicator settles on a level.
    quality = host.page.get_by_test_id("connection-quality")

    async def measured() -> str | None:
        level = await quality.get_attribute("data-level")
        return level if level in ("good", "fair", "poor") else None

    await eventually(measured, 10, "a connection quality level")

    # Ann switches microphones from the picker, and her camera is opened afresh: each new track
    # goes out on the same sender (no renegotiation) and the host keeps receiving both. (The
    # picker offers Chromium's one fake camera; a second fake camera, device-count=2, is a depth
    # format that WebRTC cannot encode, so the camera path is driven through the session.)
    await ann.page.get_by_role("button", name="Camera and microphone").click()
    cameras = ann.page.get_by_label("Camera", exact=True)
    microphones = ann.page.get_by_label("Microphone", exact=True)
    await microphones.locator("option").nth(2).wait_for(state="attached")  # listed once opened
    assert await cameras.locator("option").all_inner_texts() == ["fake_device_0"]
    mic_names = await microphones.locator("option").all_inner_texts()
    assert len(mic_names) >= 3, mic_names
    before = await ann.page.evaluate(SENDING_JS, "audio")
    assert before["sent"] and before["label"] in mic_names
    await ann.screenshot("devices-1-picker")

    async def switched(kind: str, label: str, old_id: str) -> bool:
        now = await ann.page.evaluate(SENDING_JS, kind)
        return bool(now["label"] == label and now["sent"] and now["live"] and now["id"] != old_id)

    other_mic = next(name for name in mic_names if name != before["label"])
    await microphones.select_option(label=other_mic)
    await eventually(lambda: switched("audio", other_mic, before["id"]), 10, "the mic switch")
    assert await microphones.input_value() == await ann.page.evaluate(
        "window.meetingSession.deviceId('audio')"
    )
    await flowing(host, ann)

    camera = await ann.page.evaluate(SENDING_JS, "video")
    await ann.page.evaluate(
        "() => window.meetingSession.switchDevice('video', window.meetingSession.deviceId('video'))"
    )
    await eventually(lambda: switched("video", camera["label"], camera["id"]), 10, "a new camera")
    await flowing(host, ann)
    after = await ann.page.evaluate(SENDING_JS, "video")
    assert after["sdp"] == before["sdp"], "switching a device renegotiated"

    # A muted microphone stays muted on the new device.
    await ann.page.get_by_role("button", name="Mute microphone").click()
    muted = await ann.page.evaluate(SENDING_JS, "audio")
    third_mic = next(name for name in mic_names if name not in (before["label"], other_mic))
    await microphones.select_option(label=third_mic)
    await eventually(lambda: switched("audio", third_mic, muted["id"]), 10, "another mic switch")
    assert not (await ann.page.evaluate(SENDING_JS, "audio"))["enabled"]
    await wait_for_js(
        host.page,
        "(s) => document.querySelector(s)?.dataset.audioMuted === 'true'",
        arg=host.tile(ann),
    )

    # The host ends the meeting for everyone, after confirming.
    await host.page.get_by_role("button", name="End for all").click()
    dialog = host.page.get_by_test_id("confirm-dialog")
    await dialog.wait_for()
    await host.screenshot("end-1-confirm")
    await dialog.get_by_role("button", name="End for all").click()
    for person in (host, ann):
        ended = person.page.get_by_test_id("room-ended")
        await ended.wait_for(timeout=5000)
        assert "The meeting has ended." in await ended.inner_text()
        assert await person.page.evaluate("window.meetingSession.status") == "ended"
    await ann.screenshot("end-2-ended")
    status = (await host.user.client.get(f"/api/v1/meetings/{meeting['id']}")).json()["status"]
    assert status == "ended"
