"""The relational schema. Alembic migrations under ``migrations/`` create exactly these tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from meeting_shared.clock import utcnow
from meeting_shared.db.types import JSONType, UTCDateTime
from meeting_shared.enums import (
    LobbyStatus,
    MeetingStatus,
    MeetingType,
    ParticipantRole,
    ParticipantState,
    RecordingStatus,
    UserRole,
    UserStatus,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def _created_at() -> Mapped[datetime]:
    return mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = _uuid_pk()
    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=UserRole.USER)
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE, index=True)
    ban_reason: Mapped[str | None] = mapped_column(String(500))
    avatar_key: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]


class RefreshToken(Base):
    """One opaque refresh token; tokens rotated from one login share a ``family_id`` (= session)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(255))


class PasswordResetToken(Base):
    __tablename__ = "password_reset_tokens"

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class Meeting(Base):
    __tablename__ = "meetings"
    __table_args__ = (Index("ix_meetings_status_start", "status", "start_time"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    host_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    meeting_type: Mapped[str] = mapped_column(String(16), default=MeetingType.VIDEO)
    status: Mapped[str] = mapped_column(String(16), default=MeetingStatus.SCHEDULED)
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]
    password_hash: Mapped[str | None] = mapped_column(String(255))
    max_participants: Mapped[int] = mapped_column(Integer, default=100)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Participant(Base):
    """A user's membership of one meeting: invited, joined, left or removed, with a role."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    meeting_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=ParticipantRole.PARTICIPANT)
    state: Mapped[str] = mapped_column(String(16), default=ParticipantState.INVITED)
    joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()


class MeetingInvite(Base):
    """An invite: a link token (stored hashed) or a direct invitation of one user."""

    __tablename__ = "meeting_invites"

    id: Mapped[uuid.UUID] = _uuid_pk()
    meeting_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invitee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime | None]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()


class LobbyEntry(Base):
    __tablename__ = "lobby_entries"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    meeting_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=LobbyStatus.WAITING)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class Room(Base):
    """The live media room of a meeting and the media node it is assigned to."""

    __tablename__ = "rooms"

    id: Mapped[uuid.UUID] = _uuid_pk()
    meeting_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), unique=True
    )
    node_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()
    closed_at: Mapped[datetime | None]


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[uuid.UUID] = _uuid_pk()
    meeting_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    started_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=RecordingStatus.RECORDING)
    kind: Mapped[str] = mapped_column(String(16), default="mixed")
    blob_key: Mapped[str | None] = mapped_column(String(255))
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None]
    duration_seconds: Mapped[float | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))
    node_id: Mapped[str | None] = mapped_column(String(64))  # the media node that records
    tracks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)  # per-track files
    timeline_key: Mapped[str | None] = mapped_column(String(255))
    captions_key: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[datetime | None]  # a mixing worker took it (stale claims are retaken)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_meeting_created", "meeting_id", "created_at"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class TranscriptLine(Base):
    """One caption line: what someone said in a meeting, as the AI node heard it."""

    __tablename__ = "transcript_lines"
    __table_args__ = (Index("ix_transcript_lines_meeting_started", "meeting_id", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # the speech segment's id
    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    speaker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    emotion: Mapped[str | None] = mapped_column(String(16))
    emotion_score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = _created_at()


class MediaFile(Base):
    __tablename__ = "media_files"

    id: Mapped[uuid.UUID] = _uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    blob_key: Mapped[str] = mapped_column(String(255), unique=True)
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    declared_size: Mapped[int]
    size_bytes: Mapped[int | None]
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration_seconds: Mapped[float | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created_at()
    completed_at: Mapped[datetime | None]


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[uuid.UUID] = _uuid_pk()
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxEvent(Base):
    """Events written in the transaction of the change they describe; a relay publishes them."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unpublished", "published", "seq"),)

    # A database sequence gives the publish order; event ids are random.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    type: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _created_at()
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class DeadLetter(Base):
    """An event a consumer could not handle after its retries: kept for an admin to replay."""

    __tablename__ = "dead_letters"

    id: Mapped[uuid.UUID] = _uuid_pk()
    consumer: Mapped[str] = mapped_column(String(128), index=True)
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    event_type: Mapped[str | None] = mapped_column(String(64))
    # The event's envelope, or for a message that is not an event at all, its raw text.
    payload: Mapped[dict[str, Any]]
    error: Mapped[str] = mapped_column(String(2000))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = _created_at()
    replayed_at: Mapped[datetime | None]
