"""The documented event schemas are current, and every event type is documented."""

from __future__ import annotations

import pytest

from meeting_shared.events import EventData
from meeting_shared.events_schema import OUTPUT, render

pytestmark = pytest.mark.unit


def test_committed_schema_matches_the_models() -> None:
    assert OUTPUT.read_text() == render(), "run: python -m meeting_shared.events_schema"


def test_every_event_type_is_in_the_prose() -> None:
    prose = (OUTPUT.parent / "events.md").read_text()
    missing = [event_type for event_type in EventData.registry if f"`{event_type}`" not in prose]
    assert not missing, f"document these in docs/events.md: {missing}"
