"""The web client in real browsers: sign in, join, see and hear each other through the SFU,
chat, mute, share a screen, leave, and get removed by the host.

Each participant is a separate browser context of one headless Chromium with a fake camera and
microphone. The checks read what a person would see (tiles, names, mute badges) and what the
browser's WebRTC stack reports (decoded frames, received packets).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from meeting_sfu.media import session
from meeting_sfu.signaling.node import SignalingNode
from tests.browser.harness import (
    ARTIFACTS,
    Factory,
    Participant,
    eventually,
    in_room,
    wait_for_js,
    write_artifact,
)
from tests.conftest import Api, LiveServer

pytestmark = pytest.mark.integration

FIRST_FRAME_JS = """(selector) => new Promise((resolve) => {
    const check = () => {
        const video = document.querySelector(selector + ' video');
        const session = window.meetingSession;
        if (video && video.videoWidth > 0 && session) {
            resolve(Math.round(performance.now() - session.startedAt));
        } else {
            setTimeout(check, 20);
        }
    };
    check();
})"""


async def invite_link(api: Api, host: Participant, meeting_id: str) -> str:
    response = await host.user.client.post(f"/api/v1/meetings/{meeting_id}/invites", json={})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return f"/join/{meeting_id}?invite={token}"


async def first_frame_ms(viewer: Participant, sender: Participant, source: str = "camera") -> int:
    """Milliseconds from the viewer's session start to the first decoded frame of ``sender``."""
    ms: int = await asyncio.wait_for(
        viewer.page.evaluate(FIRST_FRAME_JS, viewer.tile(sender, source)), 20
    )
    return ms


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


async def tile_count(viewer: Participant, selector: str) -> int:
    return await viewer.page.locator(selector).count()


async def gone(viewer: Participant, selector: str, what: str) -> None:
    async def absent() -> bool:
        return await tile_count(viewer, selector) == 0

    await eventually(absent, 10, what)


WATCH_JS = """() => {
    // Keep the receiving connection at hand (the session drops it when it ends) and make the
    // page's own close() a no-op.
    window.watchedPc = window.meetingSession.subscriber;
    RTCPeerConnection.prototype.close = function () {};
}"""

PACKETS_JS = """async () => {
    let total = 0;
    (await window.watchedPc.getStats()).forEach((stat) => {
        if (stat.type === 'inbound-rtp') total += stat.packetsReceived;
    });
    return total;
}"""


async def packets(person: Participant) -> int:
    """Packets received so far on the watched receiving connection (see ``WATCH_JS``)."""
    total: int = await person.page.evaluate(PACKETS_JS)
    return total


async def test_sign_in_start_a_meeting_and_errors_in_plain_words(people: Factory, api: Api) -> None:
    host, guest = await people("host"), await people("guest")

    # The host signs in on the start page and starts a meeting from there.
    await host.sign_in("/")
    await host.page.get_by_role("button", name="Start a new meeting").click()
    await in_room(host)
    meeting_id = host.page.url.rsplit("/join/", 1)[1]
    link = await invite_link(api, host, meeting_id)

    # The guest follows the invite link, mistypes the password, then gets it right.
    page = guest.page
    await page.goto(link)
    await page.get_by_label("Username or email").fill(guest.user.username)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_test_id("signin-error")
    await alert.wait_for()
    assert "not right" in await alert.inner_text()
    await page.get_by_label("Password").fill(guest.user.password)
    await page.get_by_role("button", name="Sign in").click()
    await in_room(guest)
    title = await page.get_by_test_id("meeting-title").inner_text()
    assert title == f"{host.user.username}'s meeting"
    assert await page.get_by_test_id("self-tile").count() == 1
    await host.page.locator(host.tile(guest)).wait_for()

    # Only hosts may remove people: the node's error frame shows up in plain words.
    await page.evaluate("(id) => window.meetingSession.removeParticipant(id)", host.user_id)
    error = page.get_by_test_id("room-error")
    await error.wait_for()
    assert await error.get_attribute("data-code") == "not_meeting_manager"
    assert await error.inner_text() == "Only the host can do that."
    await guest.screenshot("error")


async def test_three_people_meet(
    people: Factory, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # New tracks get new m-lines until a connection has MAX_SUBSCRIBE_MLINES; five here, so
    # that the host's screen share at the end reuses an idle m-line on Ann's connection.
    monkeypatch.setattr(session, "MAX_SUBSCRIBE_MLINES", 5)
    host, ann, ben = await people("host"), await people("ann"), await people("ben")
    everyone = [host, ann, ben]
    meeting = await api.meeting(host.user, title="Browser room")
    link = await invite_link(api, host, meeting["id"])
    timings: dict[str, Any] = {}
    steps: dict[str, float] = {}
    clock = time.monotonic()

    def step(name: str) -> None:
        nonlocal clock
        steps[name] = round(time.monotonic() - clock, 2)
        clock = time.monotonic()

    # All three sign in at once, the guests through the invite link.
    started = time.monotonic()
    await asyncio.gather(
        host.sign_in(f"/join/{meeting['id']}"), ann.sign_in(link), ben.sign_in(link)
    )
    await asyncio.gather(*(in_room(person) for person in everyone))

    # Everyone sees and hears the other two.
    pairs = [(viewer, sender) for viewer in everyone for sender in everyone if viewer is not sender]
    firsts = await asyncio.gather(*(first_frame_ms(viewer, sender) for viewer, sender in pairs))
    timings["first_remote_frame_ms"] = {
        f"{viewer.name}<-{sender.name}": ms
        for (viewer, sender), ms in zip(pairs, firsts, strict=True)
    }
    timings["all_frames_after_s"] = round(time.monotonic() - started, 2)
    timings["session_milestones_ms"] = {
        person.name: await person.page.evaluate("window.meetingSession.timings")
        for person in everyone
    }
    await asyncio.gather(*(flowing(viewer, sender) for viewer, sender in pairs))
    for viewer in everyone:
        assert await viewer.page.get_by_test_id("tile").count() == 2
        for sender in everyone:
            if sender is not viewer:
                name = viewer.page.locator(viewer.tile(sender)).get_by_test_id("tile-name")
                assert await name.inner_text() == sender.user.username  # display name
                assert await viewer.video_width(sender) > 0
    for person in everyone:
        await person.screenshot("1-three")

    step("see_and_hear")

    # Somebody's fake microphone beeps loudest: their tile is highlighted for the others.
    async def highlighted() -> int:
        return await host.page.locator('[data-speaking="true"]').count()

    await eventually(highlighted, 10, "an active speaker highlight")

    step("active_speaker")

    # Chat reaches everyone, with the sender's name.
    await ann.page.get_by_label("Chat message", exact=True).fill("hello from ann")
    await ann.page.get_by_role("button", name="Send").click()
    for person in everyone:
        message = person.page.get_by_test_id("chat-message").filter(has_text="hello from ann")
        await message.wait_for(timeout=5000)

    step("chat")

    # Ben mutes his microphone and turns his camera off: the others see both.
    await ben.page.get_by_role("button", name="Mute microphone").click()
    await ben.page.get_by_role("button", name="Turn camera off").click()
    for viewer in (host, ann):
        tile = viewer.page.locator(viewer.tile(ben))
        await wait_for_js(
            viewer.page,
            "(s) => document.querySelector(s)?.dataset.audioMuted === 'true'"
            " && document.querySelector(s)?.dataset.videoMuted === 'true'",
            arg=viewer.tile(ben),
            timeout_ms=5000,
        )
        assert await tile.get_by_test_id("tile-muted").is_visible()
    await host.screenshot("2-ben-muted")
    await ben.page.get_by_role("button", name="Unmute microphone").click()
    await ben.page.get_by_role("button", name="Turn camera on").click()
    await wait_for_js(
        host.page,
        "(s) => document.querySelector(s)?.dataset.audioMuted === 'false'"
        " && document.querySelector(s)?.dataset.videoMuted === 'false'",
        arg=host.tile(ben),
        timeout_ms=5000,
    )

    step("mute")

    # Ben shares a screen: a new tile for the others, gone when the share stops.
    await ben.page.get_by_role("button", name="Share your screen").click()
    shared = time.monotonic()
    await asyncio.gather(*(first_frame_ms(viewer, ben, "screen") for viewer in (host, ann)))
    timings["screen_share_visible_s"] = round(time.monotonic() - shared, 2)
    await asyncio.gather(*(flowing(viewer, ben, "screen") for viewer in (host, ann)))
    assert await ann.page.get_by_test_id("tile").count() == 3
    await ann.screenshot("3-screen-share")
    bens_mids = {stat["mid"] for stat in await ann.stats() if stat["user_id"] == ben.user_id}
    await ben.page.get_by_role("button", name="Stop sharing your screen").click()
    for viewer in (host, ann):
        await gone(viewer, viewer.tile(ben, "screen"), f"{viewer.name}: the screen tile going")
    await flowing(ann, ben)  # the camera still flows after the renegotiations

    step("screen_share")

    # Ben leaves: his tile goes for the others.
    bens_mids |= {stat["mid"] for stat in await ann.stats() if stat["user_id"] == ben.user_id}
    await ben.page.get_by_role("button", name="Leave").click()
    await ben.page.get_by_test_id("room-ended").wait_for()
    for viewer in (host, ann):
        await gone(viewer, viewer.tile(ben), f"{viewer.name}: Ben's tile going")

    step("leave")

    # The host shares a screen. Ann's connection has its five m-lines, so the SFU reuses one
    # that carried Ben's media for it: Ann's page must map it to the host's screen now, not to
    # Ben.
    await host.page.get_by_role("button", name="Share your screen").click()
    await first_frame_ms(ann, host, "screen")
    await flowing(ann, host, "screen")
    screen = await ann.received(host, "screen", "video")
    assert screen["mid"] in bens_mids, (screen, bens_mids)  # a reused m-line
    assert await tile_count(ann, ann.tile(ben)) == 0
    await ann.screenshot("4-host-screen-on-reused-m-line")

    step("reused_m_line")

    # The host removes Ann. Her page's own clean-up is switched off first, so her counters
    # stopping shows that the SFU stopped sending to her, not that she hung up.
    await ann.page.evaluate(WATCH_JS)
    before = await packets(ann)
    await asyncio.sleep(0.3)
    assert await packets(ann) > before
    removed_at = time.monotonic()
    await host.page.get_by_role(
        "button", name=f"Remove {ann.user.username} from the meeting"
    ).click()
    await host.page.get_by_test_id("confirm-ok").click()  # removing someone asks first
    ended = ann.page.get_by_test_id("room-ended")
    await ended.wait_for(timeout=5000)
    timings["removed_notice_s"] = round(time.monotonic() - removed_at, 2)
    assert "removed" in await ended.inner_text()
    await gone(host, host.tile(ann), "host: Ann's tile going")
    await asyncio.sleep(0.5)  # packets already in flight
    settled = await packets(ann)
    await asyncio.sleep(1.5)
    assert await packets(ann) == settled, "Ann still receives media after her removal"
    await ann.screenshot("5-removed")
    await host.screenshot("5-removed")

    step("remove")
    timings["steps_s"] = steps
    write_artifact("timings.json", timings)
    print(f"\nbrowser timings (also in {ARTIFACTS / 'timings.json'}): {timings}")  # noqa: T201


async def test_a_lost_connection_recovers_by_itself(
    people: Factory, api: Api, live_server: LiveServer
) -> None:
    host, ann = await people("host"), await people("ann")
    meeting = await api.meeting(host.user, title="Flaky network")
    link = await invite_link(api, host, meeting["id"])
    await asyncio.gather(host.sign_in(f"/join/{meeting['id']}"), ann.sign_in(link))
    await asyncio.gather(in_room(host), in_room(ann))
    await asyncio.gather(flowing(host, ann), flowing(ann, host))
    await ann.page.evaluate("window.firstSession = window.meetingSession")

    # The node drops Ann's socket as a restarting node would (1012): not the end, not a removal.
    node: SignalingNode = live_server.app.state.signaling
    connection = node.rooms.connection(uuid.UUID(meeting["id"]), ann.user.id)
    assert connection is not None
    connection.close(1012, "node restart")

    await ann.page.get_by_test_id("reconnecting").wait_for(timeout=5000)
    await wait_for_js(
        ann.page,
        "window.meetingSession !== window.firstSession"
        " && window.meetingSession.status === 'joined'",
        timeout_ms=10_000,
    )
    await asyncio.gather(flowing(host, ann), flowing(ann, host))  # both ways again
    await ann.screenshot("reconnected")
