"""Recordings: started and stopped by a meeting's managers, written per track by the media node
that hosts the room, mixed into one video by a worker, kept in the blob store.

The life of a recording (``recordings.status``): ``recording`` → stop asked → ``processing``
(the node closes and uploads the per-track captures) → ``saved`` → a worker claims it,
``mixing`` (captures into Matroska files, then one video) → ``ready``, or ``failed`` with the
reason at any step after the start. Every step is an event in
the outbox, so the room, the worker and the audit log follow it.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from meeting_shared.blobs import BlobStore
from meeting_shared.clock import utcnow
from meeting_shared.db.models import Meeting, Recording, Room
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import MeetingStatus, ParticipantRole, RecordingStatus, TrackFormat
from meeting_shared.errors import Conflict, Forbidden, NotFound
from meeting_shared.events import RecordingFailed, RecordingStarted
from meeting_shared.services.actors import Actor
from meeting_shared.services.meetings import load_for_manager, load_for_member, meeting_settings
from meeting_shared.services.recording_stops import active_recording, stop_recording

# What people see: the steps between stopping and ready are all "processing".
PUBLIC_STATUS = {
    RecordingStatus.RECORDING: "recording",
    RecordingStatus.PROCESSING: "processing",
    RecordingStatus.SAVED: "processing",
    RecordingStatus.MIXING: "processing",
    RecordingStatus.READY: "ready",
    RecordingStatus.FAILED: "failed",
}


CAPTURES = "captures"  # the folder of a recording's capture files in the blob store


class RecordedTrackInfo(BaseModel):
    """One track's file (``recordings.tracks``): the media node stores captures, the mixing
    worker replaces them with Matroska files."""

    track_id: str
    user_id: uuid.UUID
    display_name: str
    kind: str
    source: str
    codec: str
    blob_key: str
    size_bytes: int
    started_at: str
    ended_at: str
    format: TrackFormat = TrackFormat.MATROSKA


def public_status(recording: Recording) -> str:
    return PUBLIC_STATUS[RecordingStatus(recording.status)]


def stored_tracks(recording: Recording) -> list[RecordedTrackInfo]:
    return [RecordedTrackInfo.model_validate(item) for item in recording.tracks or []]


def tracks_of(recording: Recording) -> list[RecordedTrackInfo]:
    """The track files people may download (captures are not playable)."""
    return [t for t in stored_tracks(recording) if t.format == TrackFormat.MATROSKA]


def fail_recording(uow: UnitOfWork, recording: Recording, reason: str) -> None:
    """A recording that cannot be made, stored or mixed: failed, with the reason, and its event
    (the room's hosts are told; the list shows it)."""
    recording.status = RecordingStatus.FAILED
    recording.error = reason[:500]
    recording.stopped_at = recording.stopped_at or utcnow()
    uow.record(
        RecordingFailed(meeting_id=recording.meeting_id, recording_id=recording.id, reason=reason)
    )


async def fail_stored_recording(uow: UnitOfWork, recording_id: uuid.UUID, reason: str) -> None:
    """``fail_recording`` for the processes that hold only its id (the media node, the mixing
    worker): gone or failed already, nothing changes."""
    recording = await uow.session.get(Recording, recording_id)
    if recording is None or recording.status == RecordingStatus.FAILED:
        return
    fail_recording(uow, recording, reason)
    await uow.commit()


def blob_keys(recording: Recording) -> list[str]:
    keys = [recording.blob_key, recording.thumbnail_key, recording.timeline_key]
    keys += [recording.captions_key] + [track.blob_key for track in stored_tracks(recording)]
    return [key for key in keys if key]


class RecordingService:
    def __init__(self, uow: UnitOfWork, blobs: BlobStore, *, url_ttl: int) -> None:
        self._uow = uow
        self._blobs = blobs
        self._url_ttl = url_ttl

    async def start(self, actor: Actor, meeting_id: uuid.UUID) -> Recording:
        meeting, _ = await load_for_manager(self._uow, meeting_id, actor)
        if meeting.status != MeetingStatus.LIVE:
            raise Conflict("Only a live meeting can be recorded", code="meeting_not_live")
        if not meeting_settings(meeting).recording:
            raise Forbidden(
                "Recording is turned off in this meeting's settings", code="recording_disabled"
            )
        room = await self._uow.session.scalar(
            select(Room).where(Room.meeting_id == meeting_id, Room.closed_at.is_(None))
        )
        active = await active_recording(self._uow, meeting_id)
        if active is not None and (room is None or active.node_id == room.node_id):
            raise Conflict("This meeting is being recorded already", code="already_recording")
        if room is None:
            raise Conflict("Nobody has joined the meeting's room yet", code="room_not_open")
        if active is not None:
            # The room moved to another node (its node stopped): that recording cannot go on
            # there. It stops; its node stores what it wrote when it starts again.
            stop_recording(self._uow, active, actor.user_id)
        recording = Recording(
            id=uuid.uuid4(),
            meeting_id=meeting_id,
            started_by=actor.user_id,
            status=RecordingStatus.RECORDING,
            kind="mixed",
            node_id=room.node_id,
            started_at=utcnow(),
        )
        self._uow.session.add(recording)
        self._uow.record(
            RecordingStarted(
                meeting_id=meeting_id,
                recording_id=recording.id,
                actor_id=actor.user_id,
                node_id=room.node_id,
            )
        )
        await self._uow.commit()
        return recording

    async def stop(
        self, actor: Actor, meeting_id: uuid.UUID, recording_id: uuid.UUID | None = None
    ) -> Recording:
        await load_for_manager(self._uow, meeting_id, actor)
        if recording_id is None:
            recording = await active_recording(self._uow, meeting_id)
        else:
            recording = await self._get(meeting_id, recording_id)
        if recording is None or recording.status != RecordingStatus.RECORDING:
            raise Conflict("This meeting is not being recorded", code="not_recording")
        stop_recording(self._uow, recording, actor.user_id)
        await self._uow.commit()
        return recording

    async def list(self, actor: Actor, meeting_id: uuid.UUID) -> list[Recording]:
        await load_for_member(self._uow, meeting_id, actor)
        rows = await self._uow.session.scalars(
            select(Recording)
            .where(Recording.meeting_id == meeting_id)
            .order_by(Recording.started_at.desc())
        )
        return list(rows.all())

    async def file_url(
        self,
        actor: Actor,
        meeting_id: uuid.UUID,
        recording_id: uuid.UUID,
        *,
        track_id: str | None = None,
        captions: bool = False,
        thumbnail: bool = False,
    ) -> str:
        """A short-lived URL of the mixed video, one track, the captions or the thumbnail
        (meeting members only)."""
        await load_for_member(self._uow, meeting_id, actor)
        recording = await self._get(meeting_id, recording_id)
        meeting = await self._uow.session.get(Meeting, meeting_id)
        title = meeting.title if meeting is not None else "meeting"
        stamp = recording.started_at.strftime("%Y-%m-%d %H-%M")
        key, filename, content_type = self._file(recording, track_id, captions, thumbnail)
        if key is None:
            raise NotFound("This recording has no such file", code="recording_file_not_found")
        return await self._blobs.download_url(
            key,
            filename=f"{title} {stamp}{filename}",
            content_type=content_type,
            expires_in=self._url_ttl,
        )

    @staticmethod
    def _file(
        recording: Recording, track_id: str | None, captions: bool, thumbnail: bool
    ) -> tuple[str | None, str, str]:
        if track_id is not None:
            for track in tracks_of(recording):
                if track.track_id == track_id:
                    name = f" {track.display_name} {track.source}.mkv"
                    return track.blob_key, name, "video/x-matroska"
            return None, "", ""
        if captions:
            return recording.captions_key, ".vtt", "text/vtt"
        if thumbnail:
            return recording.thumbnail_key, ".jpg", "image/jpeg"
        if recording.status != RecordingStatus.READY:
            return None, "", ""
        return recording.blob_key, ".mp4", recording.content_type or "video/mp4"

    async def delete(self, actor: Actor, meeting_id: uuid.UUID, recording_id: uuid.UUID) -> None:
        """Hosts delete their meeting's recordings; administrators any (files first)."""
        if not actor.is_admin:
            _, member = await load_for_member(self._uow, meeting_id, actor)
            if member.role != ParticipantRole.HOST:
                raise Forbidden("Only the host deletes recordings", code="not_meeting_host")
        recording = await self._get(meeting_id, recording_id)
        if recording.status == RecordingStatus.RECORDING:
            raise Conflict("Stop the recording first", code="recording_active")
        for key in blob_keys(recording):
            await self._blobs.delete(key)
        await self._uow.session.delete(recording)
        await self._uow.commit()

    async def _get(self, meeting_id: uuid.UUID, recording_id: uuid.UUID) -> Recording:
        recording = await self._uow.session.get(Recording, recording_id)
        if recording is None or recording.meeting_id != meeting_id:
            raise NotFound("No such recording", code="recording_not_found")
        return recording


def recording_state(recording: Recording | None) -> dict[str, Any]:
    """What a room shows: recording or not, since when, by whom."""
    if recording is None:
        return {"active": False, "recording_id": None, "started_by": None, "started_at": None}
    return {
        "active": True,
        "recording_id": recording.id,
        "started_by": recording.started_by,
        "started_at": recording.started_at,
    }
