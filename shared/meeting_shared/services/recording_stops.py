"""Stopping a recording, which two services do: a manager asks ``RecordingService.stop``, and a
meeting's end (``meetings.end_meeting``) stops its recording in the same transaction. Below both,
so that meetings need not import recordings (which imports meetings' access checks)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from meeting_shared.clock import utcnow
from meeting_shared.db.models import Recording
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import RecordingStatus
from meeting_shared.events import RecordingStopped


async def active_recording(uow: UnitOfWork, meeting_id: uuid.UUID) -> Recording | None:
    return await uow.session.scalar(
        select(Recording).where(
            Recording.meeting_id == meeting_id,
            Recording.status == RecordingStatus.RECORDING,
        )
    )


def stop_recording(uow: UnitOfWork, recording: Recording, actor_id: uuid.UUID | None) -> None:
    recording.status = RecordingStatus.PROCESSING
    recording.stopped_at = utcnow()
    uow.record(
        RecordingStopped(
            meeting_id=recording.meeting_id,
            recording_id=recording.id,
            node_id=recording.node_id,
            actor_id=actor_id,
        )
    )


async def stop_active_recording(uow: UnitOfWork, meeting_id: uuid.UUID) -> None:
    """The meeting ended: its recording stops with it."""
    recording = await active_recording(uow, meeting_id)
    if recording is not None:
        stop_recording(uow, recording, None)
