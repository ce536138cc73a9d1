"""The media library and the administration pages in a real browser.

Uploads go from the page straight to SeaweedFS (another origin: the bucket's CORS rules let the
browser's POST through) with the presigned form the API hands out, so these tests cover the
whole path a person's file takes: progress, the server's check, the thumbnail, the download and
the deletion. The administration tests act on people who are in a meeting room at that moment.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import time
from functools import partial
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Locator, Page

from tests.browser.harness import Factory, Participant, eventually, in_room, wait_for_js
from tests.support.api import Api

pytestmark = pytest.mark.integration

# Every value the progress bars take, in order, per file name.
WATCH_PROGRESS_JS = """() => {
    window.progressSeen = {};
    new MutationObserver((changes) => {
        for (const change of changes) {
            const bar = change.target;
            if (bar.tagName !== 'PROGRESS') continue;
            const name = bar.getAttribute('aria-label');
            (window.progressSeen[name] ??= []).push(bar.value);
        }
    }).observe(document.body, { attributes: true, attributeFilter: ['value'], subtree: true });
}"""


def make_png(path: Path) -> bytes:
    # Noise does not compress: a file large enough for the upload to take a few progress steps.
    image = Image.effect_noise((900, 700), 64).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def make_mp4(path: Path) -> bytes:
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=duration=1:size=320x240:rate=15",
            "-pix_fmt", "yuv420p", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


def row_of(page: Page, name: str) -> Locator:
    return page.get_by_test_id("media-row").filter(
        has=page.get_by_test_id("media-name").get_by_text(name, exact=True)
    )


async def thumbnail_width(row: Locator) -> int:
    width: int = await row.get_by_test_id("media-thumb").evaluate(
        "img => img.complete ? img.naturalWidth : 0"
    )
    return width


async def confirm_dialog(page: Page, reason: str | None = None) -> None:
    dialog = page.get_by_test_id("dialog")
    await dialog.wait_for()
    if reason is not None:
        await dialog.get_by_test_id("dialog-input").fill(reason)
    await dialog.get_by_test_id("dialog-confirm").click()
    await dialog.wait_for(state="detached")


async def make_admin(api: Api, person: Participant) -> None:
    """Promote a participant (before they sign in in the browser)."""
    boss = await api.admin()
    response = await boss.client.put(
        f"/api/v1/admin/users/{person.user_id}/role", json={"role": "admin"}
    )
    assert response.status_code == 200, response.text


async def switch_to_chinese(page: Page) -> None:
    await page.get_by_test_id("language").select_option("zh-CN")
    await wait_for_js(page, "document.documentElement.lang === 'zh-CN'")


async def test_upload_see_download_and_delete_media(people: Factory, tmp_path: Path) -> None:
    ann = await people("ann")
    await ann.sign_in("/media")
    page = ann.page
    await page.get_by_test_id("media-empty").wait_for()
    await page.evaluate(WATCH_PROGRESS_JS)

    png = make_png(tmp_path / "holiday.png")
    make_mp4(tmp_path / "clip.mp4")
    started = time.monotonic()
    await page.get_by_label("Choose files to upload").set_input_files(
        [tmp_path / "holiday.png", tmp_path / "clip.mp4"]
    )
    uploads = page.get_by_test_id("upload-item")
    await eventually(
        lambda: uploads.evaluate_all(
            "items => items.length === 2 && items.every(i => i.dataset.state === 'ready')"
        ),
        60,
        "both uploads ready",
    )
    upload_seconds = time.monotonic() - started
    for item in await uploads.all():
        assert await item.get_by_test_id("upload-progress").evaluate("bar => bar.value") == 100
        assert await item.get_by_test_id("upload-percent").inner_text() == "100 %"
    seen: dict[str, list[float]] = await page.evaluate("window.progressSeen")
    png_progress = seen["Upload of holiday.png"]
    assert png_progress[-1] == 100 and png_progress == sorted(png_progress), png_progress
    assert "holiday.png is ready." in " ".join(await uploads.all_inner_texts())

    # Both listed as ready, with their size and a real thumbnail from storage.
    picture, clip = row_of(page, "holiday.png"), row_of(page, "clip.mp4")
    for row in (picture, clip):
        assert await row.get_attribute("data-status") == "ready"
        await eventually(partial(thumbnail_width, row), 10, "thumbnail loaded")
    assert (
        "Image" in await picture.inner_text()
        and "900\N{MULTIPLICATION SIGN}700" in await picture.inner_text()
    )
    assert "Video" in await clip.inner_text()
    await ann.screenshot("media-library")

    # The download link goes through the API to a short-lived signed URL: the same bytes back.
    async with page.expect_download() as download_info:
        await picture.get_by_test_id("media-download").click()
    download = await download_info.value
    assert download.suggested_filename == "holiday.png"
    assert await asyncio.to_thread(Path(await download.path()).read_bytes) == png

    # Delete, after confirming: gone from the page and from the API.
    media_id = await picture.get_attribute("data-media-id")
    await picture.get_by_test_id("media-delete").click()
    await confirm_dialog(page)
    await picture.wait_for(state="detached")
    assert await page.get_by_test_id("media-notice").inner_text() == "holiday.png was deleted."
    gone = await ann.user.client.get(f"/api/v1/media/{media_id}")
    assert gone.status_code == 404
    assert await page.get_by_test_id("media-row").count() == 1

    # Files the server refuses say why in plain words: a text file, and one that only claims
    # to be a picture (it reaches storage, then fails the server's check).
    (tmp_path / "notes.txt").write_text("just text")
    (tmp_path / "fake.png").write_bytes((tmp_path / "clip.mp4").read_bytes())  # a video
    await page.get_by_label("Choose files to upload").set_input_files(tmp_path / "notes.txt")
    failed = uploads.filter(has_text="notes.txt")
    await failed.and_(page.locator("[data-state=failed]")).wait_for(timeout=10_000)
    assert "This type of file cannot be uploaded" in await failed.inner_text()
    await page.get_by_label("Choose files to upload").set_input_files(tmp_path / "fake.png")
    fake = uploads.filter(has_text="fake.png")
    await fake.and_(page.locator("[data-state=failed]")).wait_for(timeout=20_000)
    assert "does not match its type" in await fake.inner_text()
    await row_of(page, "fake.png").and_(page.locator("[data-status=failed]")).wait_for()
    await ann.screenshot("media-errors")

    # A file dropped on the page uploads the same way.
    small = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(small, format="PNG")
    drop = await page.evaluate_handle(
        """(bytes) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], 'dropped.png', { type: 'image/png' }));
            return data;
        }""",
        list(small.getvalue()),
    )
    await page.get_by_test_id("dropzone").dispatch_event("drop", {"dataTransfer": drop})
    await (
        uploads.filter(has_text="dropped.png")
        .and_(page.locator("[data-state=ready]"))
        .wait_for(timeout=20_000)
    )
    await row_of(page, "dropped.png").get_by_test_id("media-thumb").wait_for()

    await page.set_viewport_size({"width": 390, "height": 800})
    await ann.screenshot("media-library-narrow")
    await page.set_viewport_size({"width": 1000, "height": 700})

    await switch_to_chinese(page)
    await page.get_by_role("heading", name="我的媒体库").wait_for()
    await row_of(page, "clip.mp4").wait_for()
    assert "可用" in await row_of(page, "clip.mp4").inner_text()
    await ann.screenshot("media-library-zh")
    print(f"\ntwo uploads (png {len(png)} B, mp4) ready in {upload_seconds:.1f} s")  # noqa: T201


async def test_people_who_are_not_administrators_get_no_admin_pages(people: Factory) -> None:
    bob = await people("bob")
    await bob.sign_in("/admin/users")
    page = bob.page
    # Sent home with the reason, and no way back in from the navigation.
    await page.get_by_test_id("home").wait_for()
    assert page.url.endswith("/")
    assert await page.get_by_test_id("flash").inner_text() == "You are not allowed to do that."
    assert await page.get_by_test_id("nav-admin").count() == 0
    await page.goto("/admin/meetings")
    await page.get_by_test_id("home").wait_for()
    assert await page.get_by_test_id("admin-meetings").count() == 0
    # The API agrees (the page is not the only gate).
    refused = await bob.user.client.get("/api/v1/admin/users")
    assert refused.status_code == 403


async def test_admin_bans_someone_in_a_room_unbans_and_changes_their_role(
    people: Factory, api: Api
) -> None:
    boss, victim = await people("boss"), await people("victim")
    await make_admin(api, boss)
    meeting = await api.meeting(victim.user, title="Victim's stand-up")
    await victim.sign_in(f"/join/{meeting['id']}")
    await in_room(victim)

    await boss.sign_in("/admin/users")
    page = boss.page
    await page.get_by_test_id("users-table").wait_for()
    await page.get_by_label("Name or email").fill(victim.user.username)
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_url(f"**/admin/users?q={victim.user.username}")
    row = page.locator(f'[data-testid="user-row"][data-user-id="{victim.user_id}"]')
    await row.wait_for()
    assert await page.get_by_test_id("user-row").count() == 1
    assert await page.get_by_test_id("user-count").inner_text() == "Users found: 1"
    assert (await row.get_attribute("data-status"), await row.get_attribute("data-role")) == (
        "active",
        "user",
    )

    # Banned while in the room: dropped at once, and told it was an administrator.
    await row.get_by_role("button", name=f"Ban {victim.user.username}").click()
    await page.get_by_test_id("dialog-input").fill("Spamming the chat")
    await boss.screenshot("admin-ban-dialog")
    banned_at = time.monotonic()
    await confirm_dialog(page)
    ended = victim.page.get_by_test_id("room-ended")
    await ended.wait_for(timeout=5000)
    drop_seconds = time.monotonic() - banned_at
    assert "An administrator suspended your account" in await ended.inner_text()
    assert await victim.page.evaluate("window.meetingSession.status") == "removed"
    await victim.screenshot("admin-banned-in-room")
    await row.and_(page.locator("[data-status=banned]")).wait_for()
    assert "Reason: Spamming the chat" in await row.inner_text()
    assert (
        f"{victim.user.username} is banned."
        in await page.get_by_test_id("admin-notice").inner_text()
    )
    await boss.screenshot("admin-users-banned")

    # A banned person cannot sign in again, and is told why.
    await victim.sign_in("/")
    error = victim.page.get_by_test_id("signin-error")
    await error.wait_for()
    assert await error.inner_text() == "This account is suspended."

    # Unban, then make them an administrator (after a confirmation).
    await row.get_by_role("button", name=f"Unban {victim.user.username}").click()
    await row.and_(page.locator("[data-status=active]")).wait_for()
    await row.get_by_label(f"Role of {victim.user.username}").select_option("admin")
    await confirm_dialog(page)
    await row.and_(page.locator("[data-role=admin]")).wait_for()
    helper = await api.admin()
    stored = (await helper.client.get(f"/api/v1/admin/users/{victim.user_id}")).json()
    assert (stored["status"], stored["role"], stored["ban_reason"]) == ("active", "admin", None)
    await boss.screenshot("admin-users")

    await switch_to_chinese(page)
    await page.get_by_role("heading", name="用户").wait_for()
    await row.get_by_label(f"{victim.user.username} 的角色").wait_for()
    await boss.screenshot("admin-users-zh")

    # Errors come in plain words, in the reader's language: the account went meanwhile.
    await helper.client.delete(f"/api/v1/admin/users/{victim.user_id}")
    await row.get_by_label(f"{victim.user.username} 的角色").select_option("user")
    await confirm_dialog(page)
    alert = page.get_by_test_id("admin-error")
    await alert.wait_for()
    assert await alert.inner_text() == "用户不存在。"
    assert await row.get_attribute("data-role") == "admin"  # unchanged on the page too
    print(f"\nbanned participant dropped from the room in {drop_seconds:.2f} s")  # noqa: T201


async def test_admin_sees_live_meetings_and_nodes_and_ends_a_meeting(
    people: Factory, api: Api
) -> None:
    boss, host, guest = await people("boss"), await people("host"), await people("guest")
    await make_admin(api, boss)
    meeting = await api.meeting(host.user, title="Runaway meeting")
    invite = await host.user.client.post(f"/api/v1/meetings/{meeting['id']}/invites", json={})
    assert invite.status_code == 201, invite.text
    await host.sign_in(f"/join/{meeting['id']}")
    await in_room(host)
    await guest.sign_in(f"/join/{meeting['id']}?invite={invite.json()['token']}")
    await in_room(guest)

    await boss.sign_in("/admin/users")
    page = boss.page
    await page.get_by_test_id("admin-tab-meetings").click()
    await page.get_by_test_id("admin-meetings").wait_for()
    row = page.locator(f'[data-testid="meeting-row"][data-meeting-id="{meeting["id"]}"]')
    await row.wait_for()
    assert "Runaway meeting" in await row.inner_text()
    assert host.user.username in await row.inner_text()  # the host's name

    # The room's count comes from the room, the node's figures from its last heartbeat (every
    # 5 s): refresh until the node reports both people and their media.
    async def counted() -> bool:
        people_cell = await row.get_by_test_id("meeting-people").inner_text()
        if people_cell.startswith("2") and await node.count():
            load = int((await node.get_by_test_id("node-load").inner_text()).split()[0])
            streams = int((await node.get_by_test_id("node-streams").inner_text()).split()[0])
            if load >= 2 and streams >= 4:  # both publish audio and video to each other
                return True
        await page.get_by_test_id("admin-refresh").click()
        await asyncio.sleep(0.5)  # the pace of the refreshes
        return False

    node_id = (await row.get_by_test_id("meeting-node").inner_text()).strip()
    node = page.locator(f'[data-testid="node-row"][data-node-id="{node_id}"]')
    await eventually(counted, 20, "both people counted in the room and on its media node")
    assert (await node.get_by_test_id("node-cpu").inner_text()).endswith("%")
    await boss.screenshot("admin-meetings")

    # Ended for everyone: both people see it at once, and the meeting leaves the live list.
    await row.get_by_role("button", name="End Runaway meeting for everyone").click()
    await confirm_dialog(page)
    for person in (host, guest):
        ended = person.page.get_by_test_id("room-ended")
        await ended.wait_for(timeout=5000)
        assert "The meeting has ended." in await ended.inner_text()
    await row.wait_for(state="detached")
    assert (
        await page.get_by_test_id("admin-notice").inner_text() == "Runaway meeting has been ended."
    )
    stored = (await host.user.client.get(f"/api/v1/meetings/{meeting['id']}")).json()
    assert stored["status"] == "ended"
    await guest.screenshot("admin-meeting-ended")
