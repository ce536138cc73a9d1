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
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, model_validator
from sqlalchemy import and_, or_, select, update

from meeting_shared.blobs import BlobStore
from meeting_shared.clock import utcnow
from meeting_shared.db.models import Meeting, Recording, Room
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import (
    MeetingStatus,
    ParticipantRole,
    RecordingStatus,
    TrackFormat,
    TrackKind,
    TrackSource,
)
from meeting_shared.errors import Conflict, Forbidden, NotFound
from meeting_shared.events import (
    RecordingFailed,
    RecordingReady,
    RecordingSaved,
    RecordingStarted,
)
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


# Stored as ``datetime.isoformat()`` writes it ("+00:00"), as ``recordings.tracks`` always held.
TrackTime = Annotated[
    datetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json")
]


class RecordedTrack(BaseModel):
    """One publication of a track in a recording: who sent what, when (wall clock, UTC, of its
    first and last media) and its file. The same model is a row's ``recordings.tracks``, the
    stored timeline's tracks and what the mixer lays out: the media node stores captures, the
    mixing worker replaces them with Matroska files and makes the times exact."""

    track_id: str
    user_id: uuid.UUID
    display_name: str
    kind: TrackKind
    source: TrackSource
    codec: str = ""
    blob_key: str = ""
    size_bytes: int = 0
    started_at: TrackTime
    ended_at: TrackTime
    format: TrackFormat = TrackFormat.MATROSKA
    file: str = Field(default="", exclude=True)
    """The file's name in a local folder of the recording's files: the last part of
    ``blob_key`` unless given (timelines stored before the blob key was in them name it)."""

    @model_validator(mode="after")
    def _file_from_key(self) -> RecordedTrack:
        if not self.file:
            self.file = self.blob_key.rsplit("/", 1)[-1]
        return self


class Timeline(BaseModel):
    """What the mixer renders: the recording's span and its tracks (``timeline.json`` beside
    the files in the blob store)."""

    recording_id: uuid.UUID
    meeting_id: uuid.UUID
    title: str
    started_at: datetime
    stopped_at: datetime
    tracks: list[RecordedTrack]


def public_status(recording: Recording) -> str:
    return PUBLIC_STATUS[RecordingStatus(recording.status)]


def stored_tracks(recording: Recording) -> list[RecordedTrack]:
    return [RecordedTrack.model_validate(item) for item in recording.tracks or []]


def tracks_of(recording: Recording) -> list[RecordedTrack]:
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

    # --- the media node and the mixing worker (system actors: no permission checks) -------------

    async def fail(self, recording_id: uuid.UUID, reason: str) -> None:
        """The recording could not be made, stored or mixed (gone or failed already: nothing)."""
        await fail_stored_recording(self._uow, recording_id, reason)

    async def mark_saved(
        self,
        recording_id: uuid.UUID,
        *,
        node_id: str,
        started_at: datetime,
        stopped_at: datetime,
        tracks: Sequence[RecordedTrack],
        timeline_key: str,
    ) -> None:
        """The node stored every track's capture: the timeline goes beside them, the row
        becomes ``saved`` and ``recording.saved`` wakes a mixing worker (one transaction).
        A recording or meeting deleted meanwhile is left alone."""
        recording = await self._uow.session.get(Recording, recording_id)
        meeting = None if recording is None else await self._meeting(recording.meeting_id)
        if recording is None or meeting is None:
            return
        timeline = Timeline(
            recording_id=recording_id,
            meeting_id=recording.meeting_id,
            title=meeting.title,
            started_at=started_at,
            stopped_at=recording.stopped_at or stopped_at,
            tracks=list(tracks),
        )
        await self._blobs.put(timeline_key, timeline.model_dump_json().encode(), "application/json")
        recording.tracks = [track.model_dump(mode="json") for track in tracks]
        recording.timeline_key = timeline_key
        recording.status = RecordingStatus.SAVED
        self._uow.record(
            RecordingSaved(
                meeting_id=recording.meeting_id,
                recording_id=recording_id,
                node_id=node_id,
                tracks=[track.blob_key for track in tracks],
            )
        )
        await self._uow.commit()

    async def left_by_crash(self, recording_id: uuid.UUID, node_id: str) -> Recording | None:
        """A recording of ``node_id`` that files on its disk belong to and that still waits for
        them (recording, or stopped and not stored); None otherwise."""
        recording = await self._uow.session.get(Recording, recording_id)
        if recording is None or recording.node_id != node_id:
            return None
        if recording.status not in (RecordingStatus.RECORDING, RecordingStatus.PROCESSING):
            return None
        return recording

    async def mark_interrupted(self, recording_id: uuid.UUID, stopped_at: datetime) -> None:
        """Its node stopped during the recording: it ends where the node's files end."""
        recording = await self._uow.session.get(Recording, recording_id)
        if recording is not None and recording.status == RecordingStatus.RECORDING:
            recording.status = RecordingStatus.PROCESSING
            recording.stopped_at = stopped_at
            recording.error = "The media node stopped during the recording: kept what it wrote"
            await self._uow.commit()

    async def claim_for_mixing(self, stale_after: timedelta) -> Recording | None:
        """The oldest saved recording, or one whose worker took it longer than ``stale_after``
        ago (it died while mixing), now ``mixing``; a conditional update, so two workers never
        take the same one."""
        now = utcnow()
        waiting = or_(
            Recording.status == RecordingStatus.SAVED,
            and_(
                Recording.status == RecordingStatus.MIXING,
                Recording.claimed_at < now - stale_after,
            ),
        )
        session = self._uow.session
        candidates = await session.scalars(
            select(Recording.id).where(waiting).order_by(Recording.stopped_at).limit(5)
        )
        for candidate in candidates.all():
            taken = await session.execute(
                update(Recording)
                .where(Recording.id == candidate, waiting)
                .values(status=RecordingStatus.MIXING, claimed_at=now)
            )
            await self._uow.commit()
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                return await session.get(Recording, candidate)
        return None

    async def replace_tracks(
        self, recording_id: uuid.UUID, tracks: Sequence[RecordedTrack]
    ) -> bool:
        """The remuxed files stand for the captures; False if the recording was deleted."""
        recording = await self._uow.session.get(Recording, recording_id)
        if recording is None:
            return False
        recording.tracks = [track.model_dump(mode="json") for track in tracks]
        await self._uow.commit()
        return True

    async def mark_ready(
        self,
        recording_id: uuid.UUID,
        *,
        blob_key: str,
        thumbnail_key: str,
        captions_key: str | None,
        size_bytes: int,
        duration_seconds: float,
    ) -> bool:
        """The mixed video is stored: the recording is ``ready`` and ``recording.ready`` is
        recorded; False if it was deleted while it was mixed."""
        recording = await self._uow.session.get(Recording, recording_id)
        if recording is None:
            return False
        recording.status = RecordingStatus.READY
        recording.blob_key = blob_key
        recording.thumbnail_key = thumbnail_key
        recording.captions_key = captions_key
        recording.content_type = "video/mp4"
        recording.size_bytes = size_bytes
        recording.duration_seconds = duration_seconds
        self._uow.record(
            RecordingReady(
                meeting_id=recording.meeting_id,
                recording_id=recording.id,
                blob_key=blob_key,
                duration_seconds=duration_seconds,
                size_bytes=size_bytes,
            )
        )
        await self._uow.commit()
        return True

    async def apply_retention(self, days: int) -> int:
        """Delete finished recordings (and their files) stopped more than ``days`` ago; 0 keeps
        them forever. Returns how many went."""
        if days <= 0:
            return 0
        cutoff = utcnow() - timedelta(days=days)
        old = await self._uow.session.scalars(
            select(Recording).where(
                Recording.status.in_([RecordingStatus.READY, RecordingStatus.FAILED]),
                Recording.stopped_at < cutoff,
            )
        )
        removed = 0
        for recording in old.all():
            for key in blob_keys(recording):
                await self._blobs.delete(key)
            await self._uow.session.delete(recording)
            removed += 1
        await self._uow.commit()
        return removed

    async def _meeting(self, meeting_id: uuid.UUID) -> Meeting | None:
        return await self._uow.session.get(Meeting, meeting_id)

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
