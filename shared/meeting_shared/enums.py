"""The domain's vocabularies, defined once: the models, services, events, frames and media code
all use these. Pure: imports nothing from the project."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

TrackKind = Literal["audio", "video"]
TrackSource = Literal["microphone", "camera", "screen"]
EmotionLabel = Literal["positive", "neutral", "negative"]


class UserRole(StrEnum):
    USER = "user"
    ADMIN = "admin"


class UserStatus(StrEnum):
    ACTIVE = "active"
    BANNED = "banned"
    DELETED = "deleted"


class MeetingType(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class ParticipantRole(StrEnum):
    HOST = "host"
    CO_HOST = "co_host"
    PRESENTER = "presenter"
    PARTICIPANT = "participant"


class ParticipantState(StrEnum):
    INVITED = "invited"  # may join, has not yet
    JOINED = "joined"  # in the meeting now
    LEFT = "left"
    REMOVED = "removed"  # removed by a host; may not rejoin


class LobbyStatus(StrEnum):
    WAITING = "waiting"
    ADMITTED = "admitted"
    DENIED = "denied"


class RecordingStatus(StrEnum):
    RECORDING = "recording"
    PROCESSING = "processing"  # stopped; the node stores the files
    SAVED = "saved"  # files stored; waiting for a mixing worker
    MIXING = "mixing"
    READY = "ready"
    FAILED = "failed"


class TrackFormat(StrEnum):
    CAPTURE = "capture"  # the packets as the media node received them, until remuxed
    MATROSKA = "matroska"  # what people download
