"""Real browsers for the web client: Debian's Chromium driven by Playwright (never a downloaded
browser), fake camera and microphone, one browser context per participant.

The gateway under test (``live_server``) serves the built client from ``web/dist`` (``make web``
builds it; ``--web-dir`` points elsewhere). Screenshots, page logs and timings go to
``var/test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from playwright.async_api import Browser, async_playwright

from tests.browser.harness import ARTIFACTS, Factory, Participant
from tests.support.api import Api
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.live_server import LiveServer
from tests.support.speech import espeak_speech, wav_bytes


@pytest.fixture(scope="session")
def web_client(live_server: LiveServer) -> Path:
    index = live_server.settings.web_dir / "index.html"
    if not index.is_file():
        pytest.fail(f"{index} is missing: build the web client first (`make web`)")
    return live_server.settings.web_dir


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (Playwright's own browser downloads are never used)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run `scripts/install-system-deps.sh chromium` "
            "(or set CHROMIUM_PATH)"
        )
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    args = list(CHROMIUM_ARGS)
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=args
        )
        yield browser
        await browser.close()


@pytest.fixture
async def people(
    browser: Browser, api: Api, live_server: LiveServer, web_client: Path
) -> AsyncIterator[Factory]:
    """Makes participants: a new user, a fresh browser context and a page on the live server."""
    made: list[Participant] = []

    async def make(name: str) -> Participant:
        user = await api.user(name)
        context = await browser.new_context(
            base_url=live_server.url, viewport={"width": 1000, "height": 700}
        )
        page = await context.new_page()
        person = Participant(name=name, user=user, context=context, page=page)
        page.on("console", lambda message: person.log.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: person.log.append(f"pageerror: {error}"))
        made.append(person)
        return person

    yield make
    for person in made:
        (ARTIFACTS / f"console-{person.name}.log").write_text("\n".join(person.log) + "\n")
        await person.context.close()
    # The client works under its Content-Security-Policy: Chromium reports what it refused.
    refused = [line for person in made for line in person.log if "Content Security Policy" in line]
    assert not refused, refused


@pytest.fixture(scope="module")
async def speaking_browser(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Browser]:
    """A Chromium whose fake microphone says the test module's ``SENTENCE`` (after two seconds
    of silence), again and again: every page of it speaks (others turn their microphone off)."""
    pause = np.zeros(48000 * 2, np.float32)
    recording = tmp_path_factory.mktemp("speech") / "speech.wav"
    recording.write_bytes(
        wav_bytes(np.concatenate([pause, espeak_speech(request.module.SENTENCE, 48000)]), 48000)
    )
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={recording}"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=args
        )
        yield browser
        await browser.close()
