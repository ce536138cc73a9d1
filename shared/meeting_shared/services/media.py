"""Media library: direct-to-storage uploads, verified with ffprobe, thumbnailed with ffmpeg."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select

from meeting_shared import media_probe
from meeting_shared.blobs import BlobStore, UploadTarget
from meeting_shared.clock import utcnow
from meeting_shared.db.models import MediaFile, Participant
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.errors import Conflict, NotFound, PayloadTooLarge, UnsupportedMediaType
from meeting_shared.events import MediaDeleted, MediaUploaded
from meeting_shared.services.actors import Actor
from meeting_shared.services.meetings import ParticipantState, load_for_member
from meeting_shared.services.pagination import Page, PageRequest, paginate

FileName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class UploadRequest(BaseModel):
    filename: FileName
    content_type: str = Field(min_length=3, max_length=100)
    size: int = Field(gt=0, description="Size of the file in bytes")
    meeting_id: uuid.UUID | None = Field(default=None, description="Share with a meeting's members")


class MediaStatus:
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PendingUpload:
    media: MediaFile
    target: UploadTarget


def _safe_filename(name: str) -> str:
    cleaned = "".join(ch for ch in Path(name.replace("\\", "/")).name if ch.isprintable())
    return cleaned or "file"


class MediaService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        blobs: BlobStore,
        max_bytes: int,
        upload_ttl: int,
        download_ttl: int,
    ) -> None:
        self._uow = uow
        self._db = uow.session
        self._blobs = blobs
        self._max_bytes = max_bytes
        self._upload_ttl = upload_ttl
        self._download_ttl = download_ttl

    async def start_upload(self, actor: Actor, request: UploadRequest) -> PendingUpload:
        content_type = media_probe.normalize_content_type(request.content_type)
        if content_type not in media_probe.ALLOWED_UPLOAD_TYPES:
            raise UnsupportedMediaType(
                f"{content_type} files cannot be uploaded", code="content_type_not_allowed"
            )
        if request.size > self._max_bytes:
            raise PayloadTooLarge(f"Files may be at most {self._max_bytes} bytes")
        if request.meeting_id is not None:
            await load_for_member(self._uow, request.meeting_id, actor)
        media_id = uuid.uuid4()
        media = MediaFile(
            id=media_id,
            owner_id=actor.user_id,
            meeting_id=request.meeting_id,
            filename=_safe_filename(request.filename),
            content_type=content_type,
            status=MediaStatus.PENDING,
            blob_key=f"media/{actor.user_id}/{media_id}",
            declared_size=request.size,
        )
        target = await self._blobs.upload_target(
            media.blob_key,
            content_type=content_type,
            max_bytes=request.size,
            expires_in=self._upload_ttl,
        )
        self._db.add(media)
        await self._uow.commit()
        return PendingUpload(media, target)

    async def complete_upload(self, actor: Actor, media_id: uuid.UUID) -> MediaFile:
        """Check what arrived: size, real type (ffprobe), then make a thumbnail (ffmpeg)."""
        media = await self._owned(actor, media_id)
        if media.status != MediaStatus.PENDING:
            raise Conflict(f"The upload is already {media.status}", code="upload_not_pending")
        stored = await self._blobs.head(media.blob_key)
        if stored is None:
            raise Conflict("Nothing was uploaded yet; upload the file first", code="upload_missing")
        if stored.size > min(media.declared_size, self._max_bytes):
            await self._reject(media, "larger than declared", "payload_too_large")
            raise PayloadTooLarge("The uploaded file is larger than declared")
        with tempfile.TemporaryDirectory(prefix="meeting-media-") as workdir:
            local = Path(workdir) / "upload"
            await self._blobs.download_to(media.blob_key, local)
            try:
                info = await media_probe.probe(local)
                media.content_type = media_probe.check_declared_type(media.content_type, info)
                thumbnail = await media_probe.make_thumbnail(local, info)
            except UnsupportedMediaType as exc:
                await self._reject(media, exc.detail, exc.code)
                raise
        if thumbnail is not None:
            media.thumbnail_key = f"{media.blob_key}.thumb.jpg"
            await self._blobs.put(media.thumbnail_key, thumbnail, "image/jpeg")
        media.kind = info.kind
        media.size_bytes = stored.size
        media.width, media.height = info.width, info.height
        media.duration_seconds = info.duration_seconds
        media.details = {
            "format": info.format_name,
            "video_codec": info.video_codec,
            "audio_codec": info.audio_codec,
            "bit_rate": info.bit_rate,
        }
        media.status = MediaStatus.READY
        media.completed_at = utcnow()
        self._uow.record(
            MediaUploaded(
                user_id=actor.user_id, media_id=media.id, kind=info.kind, size_bytes=stored.size
            )
        )
        await self._uow.commit()
        return media

    async def _reject(self, media: MediaFile, reason: str, code: str) -> None:
        await self._blobs.delete(media.blob_key)
        media.status = MediaStatus.FAILED
        # The code lets clients say why in the reader's language (docs/errors.md).
        media.details = {"error": reason, "error_code": code}
        await self._uow.commit()

    async def list_files(
        self, actor: Actor, page: PageRequest, *, meeting_id: uuid.UUID | None = None
    ) -> Page[MediaFile]:
        """The caller's files, or the files shared with a meeting the caller belongs to."""
        query = select(MediaFile).order_by(MediaFile.created_at.desc(), MediaFile.id)
        if meeting_id is not None:
            await load_for_member(self._uow, meeting_id, actor)
            query = query.where(
                MediaFile.meeting_id == meeting_id, MediaFile.status == MediaStatus.READY
            )
        else:
            query = query.where(MediaFile.owner_id == actor.user_id)
        return await paginate(self._db, query, page)

    async def get(self, actor: Actor, media_id: uuid.UUID) -> MediaFile:
        media = await self._db.get(MediaFile, media_id)
        if media is None or not await self._may_read(actor, media):
            raise NotFound("No such file", code="media_not_found")
        return media

    async def download_url(
        self, actor: Actor, media_id: uuid.UUID, *, thumbnail: bool = False
    ) -> str:
        # Content goes to the owner and meeting members only; administrators moderate metadata.
        media = await self.get(actor, media_id)
        if media.owner_id != actor.user_id and not await self._is_member(actor, media):
            raise NotFound("No such file", code="media_not_found")
        if media.status != MediaStatus.READY:
            raise Conflict("The file is not ready", code="media_not_ready")
        if thumbnail:
            if media.thumbnail_key is None:
                raise NotFound("This file has no thumbnail", code="thumbnail_not_found")
            stem = Path(media.filename).stem or "thumbnail"
            return await self._blobs.download_url(
                media.thumbnail_key,
                filename=f"{stem}.jpg",
                content_type="image/jpeg",
                expires_in=self._download_ttl,
            )
        return await self._blobs.download_url(
            media.blob_key,
            filename=media.filename,
            content_type=media.content_type,
            expires_in=self._download_ttl,
        )

    async def delete(self, actor: Actor, media_id: uuid.UUID) -> None:
        media = await self.get(actor, media_id)
        if media.owner_id != actor.user_id and not actor.is_admin:
            raise NotFound("No such file", code="media_not_found")
        keys = [key for key in (media.blob_key, media.thumbnail_key) if key]
        await self._db.delete(media)
        self._uow.record(
            MediaDeleted(user_id=media.owner_id, media_id=media.id, actor_id=actor.user_id)
        )
        await self._uow.commit()
        for (
            key
        ) in keys:  # after commit: a failed delete leaves an orphan blob, never a dangling row
            await self._blobs.delete(key)

    async def _owned(self, actor: Actor, media_id: uuid.UUID) -> MediaFile:
        media = await self._db.get(MediaFile, media_id)
        if media is None or media.owner_id != actor.user_id:
            raise NotFound("No such file", code="media_not_found")
        return media

    async def _may_read(self, actor: Actor, media: MediaFile) -> bool:
        return (
            media.owner_id == actor.user_id or actor.is_admin or await self._is_member(actor, media)
        )

    async def _is_member(self, actor: Actor, media: MediaFile) -> bool:
        if media.meeting_id is None or media.status != MediaStatus.READY:
            return False
        member = await self._db.scalar(
            select(Participant.id).where(
                Participant.meeting_id == media.meeting_id,
                Participant.user_id == actor.user_id,
                Participant.state != ParticipantState.REMOVED,
            )
        )
        return member is not None
