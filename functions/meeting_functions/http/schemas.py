"""What the API returns: public views built from domain objects (never ORM rows directly)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from meeting_shared.db.models import (
    ChatMessage,
    LobbyEntry,
    MediaFile,
    MeetingInvite,
    Participant,
    Recording,
    User,
)
from meeting_shared.db.pagination import Page
from meeting_shared.enums import ParticipantRole
from meeting_shared.services.meetings import MeetingRecord, MeetingSettings
from meeting_shared.services.recordings import public_status, tracks_of

T = TypeVar("T")
S = TypeVar("S")


class PagePublic(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int

    @classmethod
    def build(cls, page: Page[S], convert: Callable[[S], T]) -> PagePublic[T]:
        # Items are already validated models: construct, do not validate twice.
        return cls.model_construct(
            items=[convert(item) for item in page.items],
            total=page.total,
            page=page.page,
            page_size=page.page_size,
        )


def avatar_url(user: User) -> str | None:
    return (
        f"/api/v1/users/{user.id}/avatar?v={user.avatar_key.rsplit('/', 1)[-1][:8]}"
        if user.avatar_key
        else None
    )


class UserPublic(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    avatar_url: str | None

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            avatar_url=avatar_url(user),
        )


class UserPrivate(UserPublic):
    email: str
    role: str
    status: str
    locale: str
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserPrivate:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            avatar_url=avatar_url(user),
            email=user.email,
            role=user.role,
            status=user.status,
            locale=user.locale,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class UserAdminView(UserPrivate):
    ban_reason: str | None
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserAdminView:
        return cls(
            **UserPrivate.of(user).model_dump(),
            ban_reason=user.ban_reason,
            updated_at=user.updated_at,
        )


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    csrf_token: str
    user: UserPrivate


class CsrfTokenResponse(BaseModel):
    csrf_token: str


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str


class MeetingPublic(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    host_id: uuid.UUID
    meeting_type: str
    status: str
    start_time: datetime
    end_time: datetime
    has_password: bool
    max_participants: int
    settings: MeetingSettings
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    my_role: ParticipantRole | None = None

    @classmethod
    def of(cls, meeting: MeetingRecord, my_role: str | None = None) -> MeetingPublic:
        # Built from our own rows (hot in list pages): skip re-validating what the schema enforces.
        return cls.model_construct(
            id=meeting.id,
            title=meeting.title,
            description=meeting.description,
            host_id=meeting.host_id,
            meeting_type=meeting.meeting_type,
            status=meeting.status,
            start_time=meeting.start_time,
            end_time=meeting.end_time,
            has_password=meeting.password_hash is not None,
            max_participants=meeting.max_participants,
            settings=MeetingSettings.model_construct(**(meeting.settings or {})),
            started_at=meeting.started_at,
            ended_at=meeting.ended_at,
            created_at=meeting.created_at,
            my_role=ParticipantRole(my_role) if my_role else None,
        )


class ParticipantPublic(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    username: str
    display_name: str
    avatar_url: str | None
    role: str
    state: str
    joined_at: datetime | None
    left_at: datetime | None

    @classmethod
    def of(cls, participant: Participant, user: User) -> ParticipantPublic:
        return cls(
            id=participant.id,
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            avatar_url=avatar_url(user),
            role=participant.role,
            state=participant.state,
            joined_at=participant.joined_at,
            left_at=participant.left_at,
        )


class JoinResponse(BaseModel):
    status: Literal["joined"] = "joined"
    meeting: MeetingPublic
    participant: ParticipantPublic
    participant_id: uuid.UUID
    role: str
    node_id: str
    signaling_url: str
    join_token: str
    join_token_expires_at: datetime
    ice_servers: list[dict[str, Any]]


class WaitingResponse(BaseModel):
    status: Literal["waiting"] = "waiting"
    meeting_id: uuid.UUID
    meeting_title: str
    host_display_name: str | None  # whom the caller waits for
    requested_at: datetime
    detail: str = "Waiting for a host to admit you; call join again to check"


class LobbyEntryPublic(BaseModel):
    user: UserPublic
    status: str
    requested_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, entry: LobbyEntry, user: User) -> LobbyEntryPublic:
        return cls(
            user=UserPublic.of(user),
            status=entry.status,
            requested_at=entry.requested_at,
            decided_at=entry.decided_at,
        )


class InvitePublic(BaseModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    invitee_id: uuid.UUID | None
    token: str | None
    url: str | None
    expires_at: datetime | None
    max_uses: int | None

    @classmethod
    def of(cls, invite: MeetingInvite, token: str | None, public_url: str) -> InvitePublic:
        url = f"{public_url}/join/{invite.meeting_id}?invite={token}" if token else None
        return cls(
            id=invite.id,
            meeting_id=invite.meeting_id,
            invitee_id=invite.invitee_id,
            token=token,
            url=url,
            expires_at=invite.expires_at,
            max_uses=invite.max_uses,
        )


class ChatMessagePublic(BaseModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    sender: UserPublic
    body: str
    created_at: datetime

    @classmethod
    def of(cls, message: ChatMessage, sender: User) -> ChatMessagePublic:
        return cls(
            id=message.id,
            meeting_id=message.meeting_id,
            sender=UserPublic.of(sender),
            body=message.body,
            created_at=message.created_at,
        )


class ChatHistory(BaseModel):
    items: list[ChatMessagePublic]
    next_before: datetime | None


class RecordingTrackPublic(BaseModel):
    track_id: str
    user_id: uuid.UUID
    display_name: str
    kind: str
    source: str
    size_bytes: int


class RecordingPublic(BaseModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    status: str = Field(description="recording, processing, ready or failed")
    kind: str
    content_type: str | None
    size_bytes: int | None
    duration_seconds: float | None
    started_at: datetime
    stopped_at: datetime | None
    error: str | None
    has_thumbnail: bool
    has_captions: bool
    tracks: list[RecordingTrackPublic]

    @classmethod
    def of(cls, recording: Recording) -> RecordingPublic:
        return cls(
            id=recording.id,
            meeting_id=recording.meeting_id,
            status=public_status(recording),
            kind=recording.kind,
            content_type=recording.content_type,
            size_bytes=recording.size_bytes,
            duration_seconds=recording.duration_seconds,
            started_at=recording.started_at,
            stopped_at=recording.stopped_at,
            error=recording.error,
            has_thumbnail=recording.thumbnail_key is not None,
            has_captions=recording.captions_key is not None,
            tracks=[
                RecordingTrackPublic.model_validate(track.model_dump())
                for track in tracks_of(recording)
            ],
        )


class MediaFilePublic(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    meeting_id: uuid.UUID | None
    filename: str
    content_type: str
    kind: str | None
    status: str
    size_bytes: int | None
    width: int | None
    height: int | None
    duration_seconds: float | None
    details: dict[str, Any]
    has_thumbnail: bool
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, media: MediaFile) -> MediaFilePublic:
        return cls(
            id=media.id,
            owner_id=media.owner_id,
            meeting_id=media.meeting_id,
            filename=media.filename,
            content_type=media.content_type,
            kind=media.kind,
            status=media.status,
            size_bytes=media.size_bytes,
            width=media.width,
            height=media.height,
            duration_seconds=media.duration_seconds,
            details=media.details or {},
            has_thumbnail=media.thumbnail_key is not None,
            created_at=media.created_at,
            completed_at=media.completed_at,
        )
