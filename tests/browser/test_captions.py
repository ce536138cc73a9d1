"""Live captions in real browsers: a Chromium participant whose microphone plays a speech file
(``--use-file-for-fake-audio-capture``) is captioned for the other participant, with the whole
production path between them: the media node's tap, Kafka, a real AI node (Triton on the CPU)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from tests.browser.harness import ARTIFACTS, Participant, eventually, in_room
from tests.support.api import Api
from tests.support.live_server import LiveServer
from tests.support.speech import word_error_rate

pytestmark = pytest.mark.integration

SENTENCE = "Welcome to the design review, today we look at the new dashboard."


async def person(browser: Browser, api: Api, name: str) -> Participant:
    user = await api.user(name)
    context = await browser.new_context(
        base_url=api.server.url, viewport={"width": 1000, "height": 700}
    )
    page = await context.new_page()
    return Participant(name=name, user=user, context=context, page=page)


async def test_the_listener_reads_what_the_speaker_says(
    ai_gateway: LiveServer, speaking_browser: Browser
) -> None:
    api = Api(ai_gateway)
    speaker = await person(speaking_browser, api, "cspeaker")
    listener = await person(speaking_browser, api, "clistener")
    try:
        meeting = await api.meeting(speaker.user, settings={"ai": True, "ai_language": "en"})
        invite = {"user_id": str(listener.user.id)}
        await speaker.user.client.post(f"/api/v1/meetings/{meeting['id']}/invites", json=invite)
        await speaker.sign_in(f"/join/{meeting['id']}")
        await in_room(speaker)
        await listener.sign_in(f"/join/{meeting['id']}")
        await listener.page.get_by_test_id("prejoin-mic-toggle").click()  # one voice only
        await in_room(listener)

        line = listener.page.locator(
            f'[data-testid="caption-line"][data-user-id="{speaker.user_id}"]'
        )

        async def heard() -> str | None:
            if await line.count() == 0:
                return None
            text = await line.last.locator(".text").inner_text()
            return text if word_error_rate(SENTENCE, text) <= 0.3 else None

        text = await eventually(heard, seconds=60, what="the speaker's caption")
        await listener.screenshot("captions")
        assert word_error_rate(SENTENCE, text) <= 0.3, text
        me = (await speaker.user.client.get("/api/v1/users/me")).json()
        assert await line.last.locator("strong").inner_text() == me["display_name"]
        # Nobody else spoke: every caption is the speaker's.
        others = listener.page.locator(
            f'[data-testid="caption-line"]:not([data-user-id="{speaker.user_id}"])'
        )
        assert await others.count() == 0
    finally:
        for who in (speaker, listener):
            (ARTIFACTS / f"console-{who.name}.log").write_text("\n".join(who.log) + "\n")
            await who.context.close()
        await api.aclose()
