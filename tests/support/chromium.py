"""The Chromium that tests and benchmarks drive, and how: offline, fake media, loopback ICE."""

import os

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

# Headless Chromium that never reaches for the network (Playwright adds --headless and a fresh
# profile), with a fake camera, microphone and screen granted without prompts, loopback ICE
# candidates (the SFU listens on 127.0.0.1 in tests), and none of the timer throttling a
# background page gets. Each participant also gets a browser context of its own.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--use-fake-device-for-media-stream=fps=30",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
