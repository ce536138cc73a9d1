"""Profile pictures: check that an upload really is an image, crop it square and resize it."""

from __future__ import annotations

import asyncio
import io
import uuid

from PIL import Image, ImageOps, UnidentifiedImageError

from meeting_shared.blobs import BlobStore
from meeting_shared.db.models import User
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import UserStatus
from meeting_shared.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from meeting_shared.events import UserUpdated
from meeting_shared.media_probe import open_picture
from meeting_shared.services.actors import Actor

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
AVATAR_CONTENT_TYPE = "image/webp"


def render_avatar(data: bytes, size: int, max_pixels: int) -> bytes:
    """Decode an uploaded image, centre-crop it square and encode ``size`` x ``size`` WebP.

    Images over ``max_pixels`` are refused before they are decoded (``image_too_large``).
    """
    try:
        with open_picture(io.BytesIO(data), max_pixels) as probe:
            if probe.format not in ACCEPTED_FORMATS:
                raise UnsupportedMediaType(
                    "Avatars must be JPEG, PNG, WebP or GIF images", code="unsupported_image"
                )
            probe.verify()
        with open_picture(io.BytesIO(data), max_pixels) as image:
            image = ImageOps.exif_transpose(image)
            image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
            square = ImageOps.fit(image, (size, size), method=Image.Resampling.LANCZOS)
            out = io.BytesIO()
            square.save(out, format="WEBP", quality=85, method=4)
            return out.getvalue()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise UnsupportedMediaType(
            "The file is not a readable image", code="invalid_image"
        ) from exc


class AvatarService:
    def __init__(
        self, uow: UnitOfWork, *, blobs: BlobStore, max_bytes: int, size: int, max_pixels: int
    ) -> None:
        self._uow = uow
        self._blobs = blobs
        self._max_bytes = max_bytes
        self._size = size
        self._max_pixels = max_pixels

    async def set_avatar(self, actor: Actor, data: bytes) -> User:
        if len(data) > self._max_bytes:
            raise PayloadTooLarge(f"Avatars may be at most {self._max_bytes} bytes")
        if not data:
            raise InvalidInput("The file is empty", field="file", code="empty_file")
        rendered = await asyncio.to_thread(render_avatar, data, self._size, self._max_pixels)
        user = await self._uow.session.get(User, actor.user_id)
        if user is None or user.status != UserStatus.ACTIVE:
            raise NotFound("No such user", code="user_not_found")
        key = f"avatars/{user.id}/{uuid.uuid4().hex}.webp"
        await self._blobs.put(key, rendered, AVATAR_CONTENT_TYPE)
        old_key, user.avatar_key = user.avatar_key, key
        self._uow.record(UserUpdated(user_id=user.id, fields=["avatar"], actor_id=actor.user_id))
        await self._uow.commit()
        if old_key:
            await self._blobs.delete(old_key)
        return user

    async def avatar(self, user_id: uuid.UUID) -> bytes:
        user = await self._uow.session.get(User, user_id)
        if user is None or not user.avatar_key or user.status == UserStatus.DELETED:
            raise NotFound("This user has no avatar", code="avatar_not_found")
        return await self._blobs.get(user.avatar_key)
