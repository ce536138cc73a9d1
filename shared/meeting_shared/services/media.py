"""Media library: direct-to-storage uploads, verified with ffprobe, thumbnailed with ffmpeg.

A client uploads to an *upload key* with a signed form that stays valid for its whole lifetime
and may be posted again, so what lies there can change at any time. Completion therefore
verifies a local copy and stores that very copy under a *final key* of its own, which no form
ever names; downloads read only final keys. Every completion attempt writes its own final key
and only the one that finds the file still pending keeps it, so two racing completions cannot
leave bytes that one verified under the metadata of the other.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import CursorResult, select, update

from meeting_shared import media_probe
from meeting_shared.blobs import BlobStore, UploadTarget
from meeting_shared.clock import utcnow
from meeting_shared.db.models import MediaFile, Participant
from meeting_shared.db.pagination import Page, PageRequest, paginate
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import ParticipantState
from meeting_shared.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from meeting_shared.events import MediaDeleted, MediaUploaded
from meeting_shared.services.actors import Actor
from meeting_shared.services.meetings import load_for_member

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


def upload_key(media: MediaFile) -> str:
    """Where the client's signed form uploads the file: read once by completion, never served."""
    return f"uploads/{media.owner_id}/{media.id}"


def _final_key(media: MediaFile) -> str:
    """A new key for one completion's verified copy, under the file's own prefix."""
    return f"media/{media.owner_id}/{media.id}/{uuid.uuid4().hex}"


class MediaService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        blobs: BlobStore,
        max_bytes: int,
        upload_ttl: int,
        download_ttl: int,
        max_pixels: int,
    ) -> None:
        self._uow = uow
        self._db = uow.session
        self._blobs = blobs
        self._max_bytes = max_bytes
        self._upload_ttl = upload_ttl
        self._download_ttl = download_ttl
        self._max_pixels = max_pixels

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
            declared_size=request.size,
        )
        media.blob_key = upload_key(media)  # where the bytes are until they are verified
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
        """Check what arrived: size, real type (ffprobe), then make a thumbnail (ffmpeg).

        The verified local copy is what gets stored for downloads, under a final key.
        """
        media = await self._owned(actor, media_id)
        if media.status != MediaStatus.PENDING:
            raise Conflict(f"The upload is already {media.status}", code="upload_not_pending")
        uploaded = upload_key(media)
        if await self._blobs.head(uploaded) is None:
            raise Conflict("Nothing was uploaded yet; upload the file first", code="upload_missing")
        final_key = _final_key(media)
        thumbnail_key: str | None = None
        with tempfile.TemporaryDirectory(prefix="meeting-media-") as workdir:
            local = Path(workdir) / "upload"
            try:
                await self._blobs.download_to(uploaded, local)
            except NotFound as exc:  # deleted since head(): as if never uploaded
                raise Conflict("Nothing was uploaded yet", code="upload_missing") from exc
            size = local.stat().st_size  # what is checked below, whatever the form holds now
            try:
                if size > min(media.declared_size, self._max_bytes):
                    raise PayloadTooLarge("The uploaded file is larger than declared")
                info = await media_probe.probe(local, max_pixels=self._max_pixels)
                content_type = media_probe.check_declared_type(media.content_type, info)
                thumbnail = await media_probe.make_thumbnail(
                    local, info, max_pixels=self._max_pixels
                )
            except (UnsupportedMediaType, InvalidInput, PayloadTooLarge) as exc:
                await self._reject(media, exc.detail, exc.code)
                raise
            await self._blobs.upload_from(final_key, local, content_type)
        if thumbnail is not None:
            thumbnail_key = f"{final_key}.thumb.jpg"
            await self._blobs.put(thumbnail_key, thumbnail, "image/jpeg")
        kept = await self._update_if_pending(
            media,
            status=MediaStatus.READY,
            blob_key=final_key,
            thumbnail_key=thumbnail_key,
            content_type=content_type,
            kind=info.kind,
            size_bytes=size,
            width=info.width,
            height=info.height,
            duration_seconds=info.duration_seconds,
            details={
                "format": info.format_name,
                "video_codec": info.video_codec,
                "audio_codec": info.audio_codec,
                "bit_rate": info.bit_rate,
            },
            completed_at=utcnow(),
        )
        if not kept:  # another completion of the same upload finished first: keep its copy
            await self._delete_blobs(final_key, thumbnail_key)
            await self._db.refresh(media)
            raise Conflict(f"The upload is already {media.status}", code="upload_not_pending")
        self._uow.record(
            MediaUploaded(user_id=actor.user_id, media_id=media.id, kind=info.kind, size_bytes=size)
        )
        await self._uow.commit()
        await self._db.refresh(media)
        await self._blobs.delete(uploaded)  # after commit: a failure only leaves an orphan
        return media

    async def _reject(self, media: MediaFile, reason: str, code: str) -> None:
        # The code lets clients say why in the reader's language (docs/errors.md).
        if await self._update_if_pending(
            media, status=MediaStatus.FAILED, details={"error": reason, "error_code": code}
        ):
            await self._uow.commit()
            await self._blobs.delete(upload_key(media))
        await self._db.refresh(media)

    async def _update_if_pending(self, media: MediaFile, **values: object) -> bool:
        """Set ``values`` on the row unless another request has moved it on from pending."""
        result = await self._db.execute(
            update(MediaFile)
            .where(MediaFile.id == media.id, MediaFile.status == MediaStatus.PENDING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        return bool(result.rowcount == 1)

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
        # The upload key too: a form posted again after completion leaves bytes there.
        keys = (media.blob_key, media.thumbnail_key, upload_key(media))
        await self._db.delete(media)
        self._uow.record(
            MediaDeleted(user_id=media.owner_id, media_id=media.id, actor_id=actor.user_id)
        )
        await self._uow.commit()
        # After commit: a failed delete leaves an orphan blob, never a dangling row.
        await self._delete_blobs(*keys)

    async def _delete_blobs(self, *keys: str | None) -> None:
        for key in dict.fromkeys(key for key in keys if key):
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
