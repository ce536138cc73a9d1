"""HTTP routes of the media function."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from meeting_functions.http.deps import ActorDep, MediaDep, PageDep
from meeting_functions.http.schemas import MediaFilePublic, PagePublic
from meeting_shared.services.media import UploadRequest

media = APIRouter(tags=["media"])


class UploadTargetPublic(BaseModel):
    """Send a multipart/form-data POST to ``url`` with ``fields``, then the file as ``file``.

    The form stays valid for ``expires_in`` seconds, but only what it holds at completion
    counts: completion stores a verified copy, and posting the form afterwards changes nothing
    that is served.
    """

    method: str
    url: str
    fields: dict[str, str]
    expires_in: int
    max_bytes: int
    content_type: str


class UploadStarted(BaseModel):
    media: MediaFilePublic
    upload: UploadTargetPublic


@media.post("/media/uploads", status_code=status.HTTP_201_CREATED, response_model=UploadStarted)
async def start_upload(request: UploadRequest, actor: ActorDep, service: MediaDep) -> UploadStarted:
    """Reserve a file and get a signed target to upload it to, straight to storage."""
    pending = await service.start_upload(actor, request)
    target = pending.target
    return UploadStarted(
        media=MediaFilePublic.of(pending.media),
        upload=UploadTargetPublic(
            method=target.method,
            url=target.url,
            fields=target.fields,
            expires_in=target.expires_in,
            max_bytes=target.max_bytes,
            content_type=target.content_type,
        ),
    )


@media.post("/media/uploads/{media_id}/complete", response_model=MediaFilePublic)
async def complete_upload(
    media_id: uuid.UUID, actor: ActorDep, service: MediaDep
) -> MediaFilePublic:
    """Verify the uploaded file (size, real type, picture size) and make its thumbnail.

    The verified bytes are copied to storage that no upload form can write; downloads serve
    that copy. Refusals mark the file `failed` with the reason's code in `details.error_code`:
    413 `payload_too_large`, 415 `unsupported_media` / `content_type_mismatch` /
    `undecodable` / `media_timeout`, 422 `image_too_large` (an image or a video's frames over
    `IMAGE_MAX_PIXELS`, checked from the file's headers before anything is decoded). 409
    `upload_missing` before anything was uploaded, `upload_not_pending` once completed.
    """
    return MediaFilePublic.of(await service.complete_upload(actor, media_id))


@media.get("/media", response_model=PagePublic[MediaFilePublic])
async def list_media(
    actor: ActorDep,
    service: MediaDep,
    page: PageDep,
    meeting_id: Annotated[uuid.UUID | None, Query()] = None,
) -> PagePublic[MediaFilePublic]:
    result = await service.list_files(actor, page, meeting_id=meeting_id)
    return PagePublic[MediaFilePublic].build(result, MediaFilePublic.of)


@media.get("/media/{media_id}", response_model=MediaFilePublic)
async def get_media(media_id: uuid.UUID, actor: ActorDep, service: MediaDep) -> MediaFilePublic:
    return MediaFilePublic.of(await service.get(actor, media_id))


@media.delete("/media/{media_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_media(media_id: uuid.UUID, actor: ActorDep, service: MediaDep) -> None:
    await service.delete(actor, media_id)


@media.get(
    "/media/{media_id}/download",
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    response_class=RedirectResponse,
)
async def download_media(
    media_id: uuid.UUID, actor: ActorDep, service: MediaDep
) -> RedirectResponse:
    """Redirects to a short-lived signed URL that serves the file.

    The file comes with its verified content type and `Content-Disposition: attachment` (an
    RFC 6266 `filename*`); the embedded store also sends `X-Content-Type-Options: nosniff` and a
    sandboxing `Content-Security-Policy`.
    """
    return RedirectResponse(await service.download_url(actor, media_id), status_code=307)


@media.get(
    "/media/{media_id}/thumbnail",
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    response_class=RedirectResponse,
)
async def media_thumbnail(
    media_id: uuid.UUID, actor: ActorDep, service: MediaDep
) -> RedirectResponse:
    """Redirects to a short-lived signed URL that serves the JPEG thumbnail, as downloads are."""
    return RedirectResponse(
        await service.download_url(actor, media_id, thumbnail=True), status_code=307
    )


ROUTERS = (media,)
