"""Rooms: which media node hosts a meeting's room, and who is in it right now."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select

from meeting_shared.clock import utcnow
from meeting_shared.db.models import Meeting, Room
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import TrackKind, TrackSource
from meeting_shared.errors import NotFound
from meeting_shared.services.actors import Actor
from meeting_shared.services.meetings import load_for_member
from meeting_shared.services.nodes import NodeDirectory
from meeting_shared.settings import MediaNode
from meeting_shared.state import StateStore


class TrackInfo(BaseModel):
    """A track someone publishes: what others subscribe to."""

    track_id: str
    kind: TrackKind
    source: TrackSource


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


class TrackStats(TrackInfo):
    user_id: uuid.UUID
    subscribers: int
    packets_received: int
    packets_lost: int
    jitter_ms: float
    bitrate_in: float  # bits per second, over the last heartbeat interval
    target_bitrate: int | None  # what the SFU asks the publisher to stay under (video)


class RoomStats(BaseModel):
    """A live room's forwarding, as its media node last reported it."""

    meeting_id: uuid.UUID
    node_id: str
    updated_at: datetime
    participants: int
    tracks: list[TrackStats]


async def _load_for_member_or_admin(uow: UnitOfWork, meeting_id: uuid.UUID, actor: Actor) -> None:
    """Members see their meeting's room; administrators see every room (to support people)."""
    if actor.is_admin:
        if await uow.session.get(Meeting, meeting_id) is None:
            raise NotFound("No such meeting", code="meeting_not_found")
        return
    await load_for_member(uow, meeting_id, actor)


def stats_key(meeting_id: uuid.UUID) -> str:
    return f"room:{meeting_id}:stats"


async def room_stats(
    uow: UnitOfWork, state: StateStore, actor: Actor, meeting_id: uuid.UUID
) -> RoomStats | None:
    """The room's latest forwarding stats; None when no node reports it."""
    await _load_for_member_or_admin(uow, meeting_id, actor)
    value = await state.get(stats_key(meeting_id))
    return RoomStats.model_validate_json(value) if value else None


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
    """Where the meeting's room is and who is connected."""
    await _load_for_member_or_admin(uow, meeting_id, actor)
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
