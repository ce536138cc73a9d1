"""Transcripts: caption lines arrive as events, are stored once, and read back as JSON, text
and WebVTT, searchable, by the meeting's members only."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from meeting_functions.http.middleware import API_PREFIX
from meeting_shared.events import AsrTranscribed
from tests.support.api import Api

pytestmark = pytest.mark.integration


def line(
    meeting_id: str, user_id: uuid.UUID, text: str, start: datetime, seconds: float
) -> AsrTranscribed:
    return AsrTranscribed(
        meeting_id=uuid.UUID(meeting_id),
        segment_id=uuid.uuid4(),
        user_id=user_id,
        node_id="local",
        text=text,
        language="en",
        started_at=start,
        ended_at=start + timedelta(seconds=seconds),
        emotion="positive" if "great" in text else "neutral",
        emotion_score=0.6 if "great" in text else 0.0,
    )


async def test_caption_lines_become_a_searchable_transcript(api: Api) -> None:
    host = await api.user("scribe")
    guest = await api.user("speaker")
    stranger = await api.user("stranger")
    meeting = await api.meeting(host)
    path = f"{API_PREFIX}/meetings/{meeting['id']}"
    await host.client.post(f"{path}/invites", json={"user_id": str(guest.id)})
    started = (await host.client.post(f"{path}/start")).json()["started_at"]
    origin = datetime.fromisoformat(started)
    lines = [
        line(
            meeting["id"],
            host.id,
            "Welcome everyone to the planning call.",
            origin + timedelta(seconds=5),
            2.5,
        ),
        line(
            meeting["id"],
            guest.id,
            "Thanks, the budget looks great <really>.",
            origin + timedelta(seconds=65),
            3.0,
        ),
        line(
            meeting["id"],
            host.id,
            "Next week we review the budget again.",
            origin + timedelta(seconds=3725),
            2.0,
        ),
    ]
    bus = api.server.container.bus
    await bus.publish([entry.envelope("ai") for entry in reversed(lines)])
    await bus.publish([lines[0].envelope("ai")])  # a redelivery of a line: stored once

    async def stored() -> list[dict[str, Any]]:
        for _ in range(50):
            found: list[dict[str, Any]] = (await host.client.get(f"{path}/transcript")).json()[
                "lines"
            ]
            if len(found) >= 3:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError("the lines were not stored")

    stored_lines = await stored()
    assert [entry["text"] for entry in stored_lines] == [entry.text for entry in lines]
    guest_name = (await guest.client.get(f"{API_PREFIX}/users/me")).json()["display_name"]
    assert stored_lines[1]["display_name"] == guest_name
    assert stored_lines[1]["user_id"] == str(guest.id)
    assert stored_lines[1]["emotion"] == {"label": "positive", "score": 0.6}

    found = (await guest.client.get(f"{path}/transcript", params={"q": "BUDGET great"})).json()
    assert [entry["text"] for entry in found["lines"]] == [lines[1].text]
    assert (await guest.client.get(f"{path}/transcript", params={"q": "100%"})).json()[
        "lines"
    ] == []

    text = await host.client.get(f"{path}/transcript", params={"format": "text"})
    assert text.headers["content-type"].startswith("text/plain")
    assert "[00:00:05] " in text.text and "[00:01:05] " in text.text and "[01:02:05] " in text.text

    vtt = await host.client.get(f"{path}/transcript", params={"format": "vtt"})
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n")
    assert "00:01:05.000 --> 00:01:08.000" in vtt.text
    assert "great &lt;really&gt;." in vtt.text  # cue text is escaped, never markup

    assert (await stranger.client.get(f"{path}/transcript")).status_code == 404
    bad = await host.client.get(f"{path}/transcript", params={"format": "pdf"})
    assert bad.status_code == 422
