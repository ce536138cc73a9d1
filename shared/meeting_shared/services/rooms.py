"""Rooms: which media node hosts a meeting's room, and who is in it right now."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select

from meeting_shared.clock import utcnow
from meeting_shared.db.models import Room
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.services.actors import Actor
from meeting_shared.services.meetings import load_for_member
from meeting_shared.services.nodes import NodeDirectory
from meeting_shared.settings import MediaNode
from meeting_shared.state import StateStore


class TrackInfo(BaseModel):
    """A track someone publishes: what others subscribe to."""

    track_id: str
    kind: Literal["audio", "video"]
    source: Literal["microphone", "camera", "screen"]


class ParticipantInfo(BaseModel):
    """A participant's live presence in a room, as the media node keeps it in the state store."""

    participant_id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    role: str
    audio_muted: bool = False
    video_muted: bool = False
    hand_raised: bool = False
    joined_at: datetime
    tracks: list[TrackInfo] = Field(default_factory=list)


class RoomStatus(BaseModel):
    meeting_id: uuid.UUID
    open: bool
    node_id: str | None
    signaling_url: str | None
    participants: list[ParticipantInfo]


def presence_key(meeting_id: uuid.UUID) -> str:
    return f"room:{meeting_id}:participants"


async def room_presence(state: StateStore, meeting_id: uuid.UUID) -> list[ParticipantInfo]:
    fields = await state.hash_get_all(presence_key(meeting_id))
    people = [ParticipantInfo.model_validate_json(value) for value in fields.values()]
    return sorted(people, key=lambda person: person.joined_at)


async def room_status(
    uow: UnitOfWork,
    state: StateStore,
    actor: Actor,
    meeting_id: uuid.UUID,
    nodes: NodeDirectory,
) -> RoomStatus:
    """Where the meeting's room is and who is connected (members only)."""
    await load_for_member(uow, meeting_id, actor)
    room = await uow.session.scalar(select(Room).where(Room.meeting_id == meeting_id))
    is_open = room is not None and room.closed_at is None
    node = await nodes.lookup(room.node_id) if is_open and room is not None else None
    return RoomStatus(
        meeting_id=meeting_id,
        open=is_open,
        node_id=room.node_id if is_open and room is not None else None,
        signaling_url=node.signaling_url if is_open and node is not None else None,
        participants=await room_presence(state, meeting_id) if is_open else [],
    )


async def open_room(uow: UnitOfWork, meeting_id: uuid.UUID, nodes: NodeDirectory) -> MediaNode:
    """The node of the meeting's open room, placing the room when it opens, reopens, or its
    node has died."""
    room = await uow.session.scalar(select(Room).where(Room.meeting_id == meeting_id))
    current = room.node_id if room is not None and room.closed_at is None else None
    node = await nodes.place(meeting_id, current)
    if room is None:
        uow.session.add(Room(meeting_id=meeting_id, node_id=node.id))
    elif node.id != current:
        room.node_id, room.closed_at, room.created_at = node.id, None, utcnow()
    return node
