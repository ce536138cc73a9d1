"""Typed domain events (the bus that carries them: ``meeting_shared.bus``).

Every state change records an event in the same database transaction as the change (the outbox
table); a relay publishes them to the bus. Events share one envelope: ``id``, ``type``, ``source``,
``time``, ``subject``, ``key`` (ordering key: meeting or user), ``schema_version`` and ``data``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from meeting_shared.clock import utcnow
from meeting_shared.telemetry import current_traceparent

logger = logging.getLogger(__name__)


class Event(BaseModel):
    """The envelope every event travels in."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    type: str
    source: str
    time: datetime
    subject: str
    key: str
    schema_version: int = 1
    data: dict[str, Any]
    traceparent: str | None = None
    """W3C trace context of the span the event was recorded in (meeting_shared.telemetry)."""


class EventData(BaseModel):
    """Base of every typed event payload; subclasses name their ``event_type``."""

    model_config = ConfigDict(frozen=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    registry: ClassVar[dict[str, type[EventData]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "event_type" in cls.__dict__:
            EventData.registry[cls.event_type] = cls

    def subject(self) -> str:
        raise NotImplementedError

    def key(self) -> str:
        raise NotImplementedError

    def envelope(self, source: str) -> Event:
        return Event(
            id=uuid.uuid4(),
            type=self.event_type,
            source=source,
            time=utcnow(),
            subject=self.subject(),
            key=self.key(),
            schema_version=self.schema_version,
            data=self.model_dump(mode="json"),
            traceparent=current_traceparent(),
        )


def parse_event_data(event: Event) -> EventData:
    """The typed payload of an envelope (raises ``KeyError`` for an unknown type)."""
    return EventData.registry[event.type].model_validate(event.data)


class UserEvent(EventData):
    user_id: uuid.UUID

    def subject(self) -> str:
        return f"user/{self.user_id}"

    def key(self) -> str:
        return str(self.user_id)


class MeetingEvent(EventData):
    meeting_id: uuid.UUID

    def subject(self) -> str:
        return f"meeting/{self.meeting_id}"

    def key(self) -> str:
        return str(self.meeting_id)


# --- users -----------------------------------------------------------------------------------


class UserRegistered(UserEvent):
    event_type = "user.registered"
    username: str


class UserUpdated(UserEvent):
    event_type = "user.updated"
    fields: list[str]
    actor_id: uuid.UUID | None = None


class UserRoleChanged(UserEvent):
    event_type = "user.role_changed"
    role: str
    actor_id: uuid.UUID


class UserBanned(UserEvent):
    event_type = "user.banned"
    actor_id: uuid.UUID
    reason: str | None = None


class UserUnbanned(UserEvent):
    event_type = "user.unbanned"
    actor_id: uuid.UUID


class UserDeleted(UserEvent):
    event_type = "user.deleted"
    actor_id: uuid.UUID


class PasswordChanged(UserEvent):
    event_type = "user.password_changed"
    via_reset: bool = False


class PasswordResetRequested(EventData):
    """Someone asked for a reset link for an address, which may have no account: the reset-mail
    consumer looks it up, so the request does the same work either way. The address travels
    sealed (encrypted) and never rests in the outbox in clear."""

    event_type = "user.password_reset_requested"
    schema_version = 2  # 1 carried user_id, sealed_token and expires_at
    sealed_email: str

    def subject(self) -> str:
        return "password-reset"

    def key(self) -> str:
        return "password-reset"


# --- meetings ----------------------------------------------------------------------------------


class MeetingCreated(MeetingEvent):
    event_type = "meeting.created"
    host_id: uuid.UUID
    title: str
    start_time: datetime


class MeetingUpdated(MeetingEvent):
    event_type = "meeting.updated"
    actor_id: uuid.UUID
    fields: list[str]


class MeetingStarted(MeetingEvent):
    event_type = "meeting.started"
    actor_id: uuid.UUID


class MeetingEnded(MeetingEvent):
    event_type = "meeting.ended"
    actor_id: uuid.UUID


class MeetingCancelled(MeetingEvent):
    event_type = "meeting.cancelled"
    actor_id: uuid.UUID


class InviteCreated(MeetingEvent):
    event_type = "meeting.invite_created"
    invite_id: uuid.UUID
    actor_id: uuid.UUID
    invitee_id: uuid.UUID | None = None


class ParticipantJoined(MeetingEvent):
    event_type = "participant.joined"
    user_id: uuid.UUID
    role: str
    node_id: str


class ParticipantLeft(MeetingEvent):
    event_type = "participant.left"
    user_id: uuid.UUID


class ParticipantRemoved(MeetingEvent):
    event_type = "participant.removed"
    user_id: uuid.UUID
    actor_id: uuid.UUID


class ParticipantRoleChanged(MeetingEvent):
    event_type = "participant.role_changed"
    user_id: uuid.UUID
    role: str
    actor_id: uuid.UUID


class ParticipantWaiting(MeetingEvent):
    event_type = "participant.waiting"
    user_id: uuid.UUID


class ParticipantAdmitted(MeetingEvent):
    event_type = "participant.admitted"
    user_id: uuid.UUID
    actor_id: uuid.UUID


class ParticipantDenied(MeetingEvent):
    event_type = "participant.denied"
    user_id: uuid.UUID
    actor_id: uuid.UUID


class ChatMessagePosted(MeetingEvent):
    event_type = "chat.message"
    message_id: uuid.UUID
    sender_id: uuid.UUID


# --- media -------------------------------------------------------------------------------------


class MediaUploaded(UserEvent):
    event_type = "media.uploaded"
    media_id: uuid.UUID
    kind: str
    size_bytes: int


class MediaDeleted(UserEvent):
    event_type = "media.deleted"
    media_id: uuid.UUID
    actor_id: uuid.UUID


# --- recordings -------------------------------------------------------------------------------


class RecordingStarted(MeetingEvent):
    event_type = "recording.started"
    recording_id: uuid.UUID
    actor_id: uuid.UUID
    node_id: str


class RecordingStopped(MeetingEvent):
    """Stop asked (a host, or the meeting ended): the recording node closes and stores the files
    (``recording.saved`` follows)."""

    event_type = "recording.stopped"
    recording_id: uuid.UUID
    node_id: str | None = None  # the node that records
    actor_id: uuid.UUID | None = None  # None: stopped because the meeting ended


class RecordingSaved(MeetingEvent):
    """The recording node stored every track's file (and the timeline): ready to be mixed."""

    event_type = "recording.saved"
    recording_id: uuid.UUID
    node_id: str
    tracks: list[str] = []  # blob keys of the per-track capture files


class RecordingReady(MeetingEvent):
    event_type = "recording.ready"
    recording_id: uuid.UUID
    blob_key: str
    duration_seconds: float
    size_bytes: int


class RecordingFailed(MeetingEvent):
    event_type = "recording.failed"
    recording_id: uuid.UUID
    reason: str


# --- live captions: streams between media nodes and AI nodes ------------------------------------


class StreamEvent(MeetingEvent):
    """High-volume traffic between nodes, not a state change: it travels on a topic of its own
    (``<prefix><stream>``, so consumers of domain events never receive it) and is not audited."""

    stream: ClassVar[str]


class AsrRequested(StreamEvent):
    """A piece of someone's speech, cut by voice activity detection on their media node."""

    event_type = "ai.asr.requested"
    stream = "ai.asr.requests"
    segment_id: uuid.UUID
    user_id: uuid.UUID
    node_id: str  # the media node whose room gets the caption
    language: str = ""  # ISO 639-1, or empty to detect
    started_at: datetime
    ended_at: datetime
    sample_rate: int = 16000
    audio: str  # base64 of mono little-endian PCM16


class AsrTranscribed(StreamEvent):
    """The words of one speech segment, with the sentiment of the line."""

    event_type = "ai.asr.transcribed"
    stream = "ai.asr.results"
    segment_id: uuid.UUID
    user_id: uuid.UUID
    node_id: str
    text: str
    language: str
    started_at: datetime
    ended_at: datetime
    emotion: str | None = None  # positive, neutral or negative
    emotion_score: float | None = None


def stream_of(event_type: str) -> str | None:
    """The stream an event type travels on, or None for domain events."""
    cls = EventData.registry.get(event_type)
    return cls.stream if cls is not None and issubclass(cls, StreamEvent) else None
