"""One factory for every domain service: the HTTP dependencies and the media node build them here.

A service needs a unit of work (one transaction) and some of the process's adapters; which ones is
decided once, in this module, so an edge never wires a service by hand.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from meeting_shared.blobs import BlobStore
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.security import PasswordHasher, Sealer, TokenService
from meeting_shared.services.accounts import AccountService
from meeting_shared.services.attendance import AttendanceService
from meeting_shared.services.avatars import AvatarService
from meeting_shared.services.chat import ChatService
from meeting_shared.services.media import MediaService
from meeting_shared.services.meetings import MeetingService
from meeting_shared.services.nodes import NodeDirectory
from meeting_shared.services.rate_limits import RateLimiter
from meeting_shared.services.recordings import RecordingService
from meeting_shared.services.sessions import SessionRevocations
from meeting_shared.services.transcripts import TranscriptService
from meeting_shared.services.user_admin import UserAdminService
from meeting_shared.settings import Settings


@dataclass(frozen=True)
class ServiceParts:
    """The adapters and settings the domain services are built from (one set per process)."""

    settings: Settings
    blobs: BlobStore
    hasher: PasswordHasher
    tokens: TokenService
    sealer: Sealer
    limiter: RateLimiter
    revocations: SessionRevocations
    nodes: NodeDirectory


class Services:
    """The domain services over one unit of work; each is built on first use."""

    def __init__(self, uow: UnitOfWork, parts: ServiceParts) -> None:
        self.uow = uow
        self._parts = parts

    @cached_property
    def accounts(self) -> AccountService:
        parts = self._parts
        return AccountService(
            self.uow,
            hasher=parts.hasher,
            tokens=parts.tokens,
            revocations=parts.revocations,
            limiter=parts.limiter,
            sealer=parts.sealer,
            refresh_ttl=parts.settings.refresh_token_ttl_seconds,
        )

    @cached_property
    def user_admin(self) -> UserAdminService:
        return UserAdminService(
            self.uow, revocations=self._parts.revocations, hasher=self._parts.hasher
        )

    @cached_property
    def avatars(self) -> AvatarService:
        settings = self._parts.settings
        return AvatarService(
            self.uow,
            blobs=self._parts.blobs,
            max_bytes=settings.avatar_max_bytes,
            size=settings.avatar_size,
            max_pixels=settings.image_max_pixels,
        )

    @cached_property
    def meetings(self) -> MeetingService:
        return MeetingService(self.uow, hasher=self._parts.hasher)

    @cached_property
    def attendance(self) -> AttendanceService:
        parts = self._parts
        return AttendanceService(
            self.uow,
            hasher=parts.hasher,
            tokens=parts.tokens,
            limiter=parts.limiter,
            nodes=parts.nodes,
        )

    @cached_property
    def chat(self) -> ChatService:
        return ChatService(self.uow, limiter=self._parts.limiter)

    @cached_property
    def media(self) -> MediaService:
        settings = self._parts.settings
        return MediaService(
            self.uow,
            blobs=self._parts.blobs,
            max_bytes=settings.upload_max_bytes,
            upload_ttl=settings.upload_url_ttl_seconds,
            download_ttl=settings.download_url_ttl_seconds,
            max_pixels=settings.image_max_pixels,
        )

    @cached_property
    def recordings(self) -> RecordingService:
        return RecordingService(
            self.uow, self._parts.blobs, url_ttl=self._parts.settings.download_url_ttl_seconds
        )

    @cached_property
    def transcripts(self) -> TranscriptService:
        return TranscriptService(self.uow)


class OpenServices(Protocol):
    """``Container.open_services``: the services over a fresh session, for code outside a
    request (the media node, workers), passed instead of the container."""

    def __call__(self, *, read_only: bool = False) -> AbstractAsyncContextManager[Services]: ...
