"""The signaling protocol: its documented schema is current, and frames validate as documented."""

from __future__ import annotations

import json
import typing
import uuid

import pytest
from pydantic import ValidationError

from meeting_sfu.protocol import (
    CLIENT_FRAME,
    JOIN_FRAME,
    ClientFrame,
    RemoveParticipantFrame,
    SendChatFrame,
)
from meeting_sfu.schema import SCHEMA_PATH, render
from meeting_sfu.signaling.handlers import HANDLERS

pytestmark = pytest.mark.unit


def test_committed_schema_matches_the_models() -> None:
    assert SCHEMA_PATH.read_text() == render(), "run: python -m meeting_sfu.schema"


def test_frames_parse_by_type_and_refuse_extras() -> None:
    target = uuid.uuid4()
    frame = CLIENT_FRAME.validate_json(f'{{"type": "remove_participant", "user_id": "{target}"}}')
    assert frame == RemoveParticipantFrame(type="remove_participant", user_id=target)
    chat = CLIENT_FRAME.validate_python({"type": "chat", "body": "  hi  "})
    assert isinstance(chat, SendChatFrame) and chat.body == "hi"
    with pytest.raises(ValidationError):
        CLIENT_FRAME.validate_python({"type": "chat", "body": "hi", "sender": "someone else"})
    with pytest.raises(ValidationError):
        CLIENT_FRAME.validate_python({"type": "join", "token": "x" * 20})  # join comes first only
    assert JOIN_FRAME.validate_python({"type": "join", "token": "x" * 20}).v == 1


def test_every_client_frame_type_has_its_handler() -> None:
    union = typing.get_args(ClientFrame)[0]  # Annotated[A | B | ..., discriminator]
    assert set(HANDLERS) == set(typing.get_args(union))


def test_the_schema_names_frames_as_the_wire_does_not_as_their_classes() -> None:
    schema = json.loads(render())
    server = schema["server_to_client"]["$defs"]
    assert "MeetingEnded" in server and "MeetingEndedFrame" not in server
    assert server["LobbyEntry"]["title"] == "LobbyEntry"  # the class is LobbyWaiter
    assert all(not name.endswith("Frame") for name in schema["client_to_server"]["$defs"])
