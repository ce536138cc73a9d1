"""The account pages in a real browser: sign up, sign in and out, password reset through the
mail, the profile (name, picture, language, password, deleting the account), and a session that
ends while a page is open.

Checks read what a person sees (headings, messages next to fields, the picture) and confirm the
outcome with the REST API where the page alone could mislead (the password really changed, the
language is really saved).
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.harness import ARTIFACTS, Factory, Participant, eventually
from tests.support.api import PASSWORD, Api
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.integration

NEW_PASSWORD = "a brand new passphrase"
RESET_LINK = re.compile(r"https?://\S+/reset-password\?token=[A-Za-z0-9_-]+")

# The pages answer quickly, but this box is small and shared: give slow moments some room.
expect.set_options(timeout=15_000)

Visitor = Callable[[str], Awaitable[Page]]


@pytest.fixture
async def visitor(
    browser: Browser, live_server: LiveServer, web_client: Path
) -> AsyncIterator[Visitor]:
    """Fresh browser contexts with nobody signed in (``people`` makes signed-up users)."""
    opened: list[tuple[str, BrowserContext, list[str]]] = []

    async def open_page(name: str) -> Page:
        context = await browser.new_context(
            base_url=live_server.url, viewport={"width": 1000, "height": 700}
        )
        page = await context.new_page()
        log: list[str] = []
        page.on("console", lambda message: log.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: log.append(f"pageerror: {error}"))
        opened.append((name, context, log))
        return page

    yield open_page
    for name, context, log in opened:
        (ARTIFACTS / f"console-{name}.log").write_text("\n".join(log) + "\n")
        await context.close()


async def screenshot(page: Page, step: str) -> None:
    await page.screenshot(path=ARTIFACTS / f"account-{step}.png", full_page=True)


async def sign_in_status(api: Api, login: str, password: str) -> int:
    """What the API answers to these credentials (200 or 401), leaving no session behind."""
    response = await api.client.post(
        "/api/v1/auth/login", json={"login": login, "password": password}
    )
    api.client.cookies.clear()
    return response.status_code


async def fill_sign_in(page: Page, login: str, password: str) -> None:
    await page.get_by_label("Username or email").fill(login)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def on_dashboard(page: Page) -> None:
    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(page.get_by_test_id("nav-profile")).to_be_visible()


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


async def test_sign_up_lands_signed_in_then_sign_out_and_in(api: Api, visitor: Visitor) -> None:
    page = await visitor("newcomer")
    taken = await api.register("taken")
    name = f"new_{uuid.uuid4().hex[:8]}"
    email = f"{name}@example.com"

    # A page that needs an account sends newcomers to sign-in, and sign-up keeps where they were.
    await page.goto("/profile")
    await expect(page).to_have_url(re.compile(r"/signin\?next=%2Fprofile$"))
    await page.get_by_role("link", name="Create an account").click()
    await expect(page).to_have_url(re.compile(r"/signup\?next=%2Fprofile$"))
    await expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    await screenshot(page, "signup")

    # The password rules tick as they are met; a password that misses one is not sent.
    await page.get_by_test_id("signup-username").fill(taken["username"])
    await page.get_by_test_id("signup-email").fill(email)
    await page.get_by_test_id("signup-password").fill(taken["username"])
    rules = page.get_by_test_id("password-rules")
    await expect(rules.locator('[data-rule="length"]')).to_have_attribute("data-met", "true")
    await expect(rules.locator('[data-rule="not_identity"]')).to_have_attribute("data-met", "false")
    await page.get_by_test_id("signup-confirm").fill("something else")
    await page.get_by_test_id("signup-submit").click()
    await expect(page.get_by_test_id("signup-password-error")).to_have_text(
        "This password does not meet the rules listed."
    )
    await expect(page.get_by_test_id("signup-confirm-error")).to_have_text(
        "The two passwords are not the same."
    )
    await expect(page.get_by_test_id("signup-password")).to_be_focused()

    # The server's answer lands on the field it is about.
    await page.get_by_test_id("signup-password").fill(PASSWORD)
    await page.get_by_test_id("signup-confirm").fill(PASSWORD)
    await page.get_by_test_id("signup-submit").click()
    await expect(page.get_by_test_id("signup-username-error")).to_have_text(
        "That username is taken. Choose another one."
    )
    await expect(page.get_by_test_id("signup-password-error")).to_be_hidden()
    await screenshot(page, "signup-errors")

    await page.get_by_test_id("signup-username").fill(name)
    await page.get_by_test_id("signup-display_name").fill("New Comer")
    await page.get_by_test_id("signup-submit").click()
    # Signed in at once, and back where they wanted to go.
    await expect(page).to_have_url(re.compile(r"/profile$"))
    await expect(page.get_by_test_id("details-display_name")).to_have_value("New Comer")
    await expect(page.get_by_test_id("details-email")).to_have_value(email)

    await page.get_by_test_id("signout").click()
    await expect(page).to_have_url(re.compile(r"/signin$"))
    await expect(page.get_by_test_id("nav-profile")).to_have_count(0)

    await fill_sign_in(page, name, "not the password")
    await expect(page.get_by_test_id("signin-error")).to_have_text(
        "That username or password is not right."
    )
    await screenshot(page, "signin-wrong-password")
    await fill_sign_in(page, email, PASSWORD)  # the email works as the login too
    await on_dashboard(page)


async def test_password_reset_through_the_mail(api: Api, people: Factory) -> None:
    rita = await people("rita")
    page = rita.page
    await page.goto("/signin")
    await page.get_by_role("link", name="Forgot password?").click()
    await expect(page).to_have_url(re.compile(r"/forgot-password$"))
    await screenshot(page, "forgot")

    # An address without an account gets the same answer as one with.
    nobody = f"nobody_{uuid.uuid4().hex[:8]}@example.com"
    await page.get_by_label("Email", exact=True).fill(nobody)
    await page.get_by_role("button", name="Send the link").click()
    sent = page.get_by_test_id("forgot-sent")
    await expect(sent).to_contain_text(f"If an account uses {nobody}, a link")
    neutral = (await sent.inner_text()).replace(nobody, "EMAIL")

    await page.goto("/forgot-password")
    await page.get_by_label("Email", exact=True).fill(rita.user.email)
    await page.get_by_role("button", name="Send the link").click()
    await expect(sent).to_be_visible()
    assert (await sent.inner_text()).replace(rita.user.email, "EMAIL") == neutral
    await screenshot(page, "forgot-sent")
    assert api.mails_to(nobody) == []

    mail = await api.wait_for_mail(rita.user.email, seconds=20)
    found = RESET_LINK.search(mail["text"])
    assert found, mail["text"]
    link = urlsplit(found.group(0))
    await page.goto(f"{link.path}?{link.query}")
    await expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()

    # The page does not know the username: the server's refusal shows on the field.
    await page.get_by_test_id("reset-password").fill(rita.user.username)
    await page.get_by_test_id("reset-confirm").fill(rita.user.username)
    await page.get_by_test_id("reset-submit").click()
    await expect(page.get_by_test_id("reset-password-error")).to_have_text(
        "That password is too easy to guess: follow the rules listed."
    )
    await screenshot(page, "reset")

    await page.get_by_test_id("reset-password").fill(NEW_PASSWORD)
    await page.get_by_test_id("reset-confirm").fill(NEW_PASSWORD)
    await page.get_by_test_id("reset-submit").click()
    await expect(page).to_have_url(re.compile(r"/signin$"))
    await expect(page.get_by_test_id("flash")).to_have_text(
        "Your password was changed. Sign in with the new one."
    )
    await screenshot(page, "reset-done")

    await fill_sign_in(page, rita.user.username, PASSWORD)
    await expect(page.get_by_test_id("signin-error")).to_have_text(
        "That username or password is not right."
    )
    await fill_sign_in(page, rita.user.username, NEW_PASSWORD)
    await on_dashboard(page)
    assert await sign_in_status(api, rita.user.username, PASSWORD) == 401

    # The link works once.
    await page.goto(f"{link.path}?{link.query}")
    await page.get_by_test_id("reset-password").fill("yet another passphrase")
    await page.get_by_test_id("reset-confirm").fill("yet another passphrase")
    await page.get_by_test_id("reset-submit").click()
    await expect(page.get_by_test_id("reset-error")).to_have_text(
        "This reset link is invalid, already used or expired. Ask for a new one."
    )
    await expect(page.get_by_role("link", name="Ask for a new link")).to_be_visible()


async def test_profile_name_picture_and_errors(api: Api, people: Factory, tmp_path: Path) -> None:
    pat = await people("pat")
    page = pat.page
    await pat.sign_in("/profile")
    await expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    await expect(page.get_by_test_id("avatar-current")).to_have_attribute("role", "img")

    await page.get_by_label("Display name").fill("Pat Example")
    await page.get_by_test_id("details-save").click()
    await expect(page.get_by_test_id("details-status")).to_have_text("Saved.")
    me = (await pat.user.client.get("/api/v1/users/me")).json()
    assert me["display_name"] == "Pat Example"

    # A new email needs the current password, checked by the server.
    await page.get_by_label("Email", exact=True).fill(f"pat_{uuid.uuid4().hex[:8]}@example.com")
    await expect(page.get_by_test_id("details-current_password")).to_be_visible()
    await page.get_by_test_id("details-current_password").fill("not my password")
    await page.get_by_test_id("details-save").click()
    await expect(page.get_by_test_id("details-current_password-error")).to_have_text(
        "The current password is not right."
    )
    await page.get_by_label("Email", exact=True).fill(pat.user.email)
    await expect(page.get_by_test_id("details-current_password")).to_be_hidden()

    # Pictures: what is not an image is refused, with the reason.
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    await page.get_by_test_id("avatar-file").set_input_files(notes)
    await expect(page.get_by_test_id("avatar-error")).to_have_text(
        "Choose a JPEG, PNG, WebP or GIF image."
    )
    await expect(page.get_by_test_id("avatar-upload")).to_be_disabled()

    fake = tmp_path / "fake.png"  # the right name, the wrong content: only the server can tell
    fake.write_text("not a picture either")
    await page.get_by_test_id("avatar-file").set_input_files(fake)
    await page.get_by_test_id("avatar-upload").click()
    await expect(page.get_by_test_id("avatar-error")).to_have_text(
        "That file is not a readable image."
    )

    huge = tmp_path / "huge.png"
    huge.write_bytes(png(8, 8, (0, 0, 0)) + bytes(6 * 1024 * 1024))
    await page.get_by_test_id("avatar-file").set_input_files(huge)
    await page.get_by_test_id("avatar-upload").click()
    await expect(page.get_by_test_id("avatar-error")).to_have_text(
        "The file is larger than this server accepts."
    )

    picture = tmp_path / "me.png"
    picture.write_bytes(png(64, 48, (200, 40, 40)))
    await page.get_by_test_id("avatar-file").set_input_files(picture)
    await expect(page.get_by_test_id("avatar-error")).to_be_hidden()
    await expect(page.get_by_test_id("avatar-preview")).to_be_visible()
    await screenshot(page, "profile-avatar-preview")
    await page.get_by_test_id("avatar-upload").click()
    await expect(page.get_by_test_id("avatar-status")).to_have_text("Your new picture is saved.")
    current = page.get_by_test_id("avatar-current")
    await expect(current).to_have_attribute(
        "src", re.compile(rf"^/api/v1/users/{pat.user_id}/avatar\?v=")
    )

    # The browser really loaded it: the server's square rendering, not the 64x48 upload.
    async def loaded_width() -> int:
        width: int = await current.evaluate("img => img.complete ? img.naturalWidth : 0")
        return width

    assert await eventually(loaded_width, 15, "the new picture loaded") > 0
    assert await current.evaluate("img => img.naturalWidth === img.naturalHeight")
    await expect(page.get_by_test_id("avatar-preview")).to_be_hidden()

    await page.reload()
    await expect(page.get_by_test_id("details-display_name")).to_have_value("Pat Example")
    await expect(page.get_by_test_id("avatar-current")).to_have_attribute(
        "src", re.compile(rf"/users/{pat.user_id}/avatar")
    )
    await screenshot(page, "profile")
    await page.set_viewport_size({"width": 380, "height": 700})
    await screenshot(page, "profile-narrow")


async def test_language_is_saved_and_applied_at_sign_in(
    api: Api, people: Factory, browser: Browser, live_server: LiveServer
) -> None:
    wang = await people("wang")
    page = wang.page
    await wang.sign_in("/profile")
    await page.get_by_label("Language of the pages").select_option("zh-CN")
    await expect(page.get_by_role("heading", name="个人资料")).to_be_visible()
    await expect(page.get_by_label("显示名称")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    assert (await wang.user.client.get("/api/v1/users/me")).json()["locale"] == "zh-CN"
    await screenshot(page, "profile-zh-CN")

    await page.reload()
    await expect(page.get_by_role("heading", name="修改密码")).to_be_visible()

    # Another browser starts in English and switches at sign-in.
    context = await browser.new_context(base_url=live_server.url)
    try:
        other = await context.new_page()
        await other.goto("/signin")
        await expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
        await fill_sign_in(other, wang.user.username, wang.user.password)
        await expect(other.get_by_test_id("nav-profile")).to_have_text("个人资料")
    finally:
        await context.close()

    # The language menu of the navigation saves it too.
    await page.get_by_test_id("language").select_option("en")
    await expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    assert (await wang.user.client.get("/api/v1/users/me")).json()["locale"] == "en"


async def test_change_password(api: Api, people: Factory) -> None:
    cleo = await people("cleo")
    page = cleo.page
    await cleo.sign_in("/profile")
    form = page.get_by_test_id("password-form")
    await form.get_by_label("Current password").fill("not my password")
    await form.get_by_label("New password").fill(NEW_PASSWORD)
    await form.get_by_label("Repeat the password").fill(NEW_PASSWORD)
    await page.get_by_test_id("password-save").click()
    await expect(page.get_by_test_id("password-current_password-error")).to_have_text(
        "The current password is not right."
    )

    await form.get_by_label("Current password").fill(PASSWORD)
    await page.get_by_test_id("password-save").click()
    await expect(page.get_by_test_id("password-status")).to_have_text(
        "Your password was changed. Other devices were signed out."
    )
    await expect(form.get_by_label("New password")).to_have_value("")
    assert await sign_in_status(api, cleo.user.username, NEW_PASSWORD) == 200
    assert await sign_in_status(api, cleo.user.username, PASSWORD) == 401
    # This browser stays signed in.
    await page.reload()
    await expect(page.get_by_role("heading", name="Your profile")).to_be_visible()


async def test_delete_account(api: Api, people: Factory) -> None:
    dora = await people("dora")
    page = dora.page
    await dora.sign_in("/profile")
    await page.get_by_role("button", name="Delete account…").click()
    confirm = page.get_by_test_id("delete-confirm")
    await expect(page.get_by_test_id("delete-username")).to_be_focused()
    await expect(
        page.get_by_text("meetings you host are cancelled (or ended, if live)")
    ).to_be_visible()
    await expect(confirm).to_be_disabled()
    await page.get_by_test_id("delete-username").fill("someone else")
    await expect(confirm).to_be_disabled()
    await page.get_by_test_id("delete-username").fill(dora.user.username)
    await expect(confirm).to_be_enabled()
    await screenshot(page, "profile-delete")

    await confirm.click()
    await expect(page).to_have_url(re.compile(r"/signin$"))
    await expect(page.get_by_test_id("flash")).to_have_text("Your account was deleted.")
    await fill_sign_in(page, dora.user.username, PASSWORD)
    await expect(page.get_by_test_id("signin-error")).to_have_text(
        "That username or password is not right."
    )
    assert await sign_in_status(api, dora.user.email, PASSWORD) == 401


async def expired_then_back(person: Participant, action: Callable[[], Awaitable[None]]) -> None:
    """``action`` meets the ended session: sign-in with the page as ``next``, and back."""
    page = person.page
    await action()
    await expect(page).to_have_url(re.compile(r"/signin\?next=%2Fprofile$"))
    await expect(page.get_by_test_id("flash")).to_have_text(
        "Your session has ended. Sign in again to continue."
    )
    await screenshot(page, "session-expired")
    await fill_sign_in(page, person.user.username, PASSWORD)
    await expect(page).to_have_url(re.compile(r"/profile$"))
    await expect(page.get_by_role("heading", name="Your profile")).to_be_visible()


async def test_an_ended_session_returns_through_sign_in(people: Factory) -> None:
    sam = await people("sam")
    page = sam.page
    await sam.sign_in("/")
    await on_dashboard(page)

    # Every cookie gone (as when the browser dropped them): the next page that asks the API.
    async def clear_cookies_and_open_profile() -> None:
        await sam.context.clear_cookies()
        await page.get_by_test_id("nav-profile").click()

    await expired_then_back(sam, clear_cookies_and_open_profile)

    # Only the session cookies gone: the invisible refresh is tried, fails, and the same follows.
    async def drop_session_and_save() -> None:
        cookies = await sam.context.cookies()
        assert "csrf_token" in {cookie["name"] for cookie in cookies}
        await sam.context.clear_cookies()
        await sam.context.add_cookies(
            [
                {
                    "name": c["name"],
                    "value": c["value"],
                    "domain": c["domain"],
                    "path": c["path"],
                    "sameSite": c["sameSite"],
                }
                for c in cookies
                if c["name"] == "csrf_token"
            ]
        )
        await page.get_by_label("Display name").fill("Sam Again")
        await page.get_by_test_id("details-save").click()

    await expired_then_back(sam, drop_session_and_save)
