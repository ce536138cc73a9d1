"""Which media node hosts a meeting's room."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from sqlalchemy import select

from meeting_shared.clock import utcnow
from meeting_shared.db.models import Room
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.errors import Unavailable
from meeting_shared.settings import MediaNode


def pick_node(meeting_id: uuid.UUID, nodes: Sequence[MediaNode]) -> MediaNode:
    """Rendezvous hashing: stable per meeting, and adding a node moves only its share of rooms."""
    if not nodes:
        raise Unavailable("No media node is configured")
    return max(nodes, key=lambda node: hashlib.sha256(f"{node.id}:{meeting_id}".encode()).digest())


async def open_room(
    uow: UnitOfWork, meeting_id: uuid.UUID, nodes: Sequence[MediaNode]
) -> MediaNode:
    """The node of the meeting's open room, assigning one when the room opens (or reopens)."""
    by_id = {node.id: node for node in nodes}
    room = await uow.session.scalar(select(Room).where(Room.meeting_id == meeting_id))
    if room is not None and room.closed_at is None and room.node_id in by_id:
        return by_id[room.node_id]
    node = pick_node(meeting_id, nodes)
    if room is None:
        uow.session.add(Room(meeting_id=meeting_id, node_id=node.id))
    else:
        room.node_id, room.closed_at, room.created_at = node.id, None, utcnow()
    return node
