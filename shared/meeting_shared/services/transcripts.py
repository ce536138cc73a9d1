"""Meeting transcripts: caption lines stored as they are made, read back as JSON, text or WebVTT.

Lines arrive as ``ai.asr.transcribed`` events (the segment id is the line id, so a redelivered
event is stored once) and are read by the meeting's members, oldest first, optionally filtered by
words that must all appear in a line.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import get_args

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from meeting_shared.bus import EventBus
from meeting_shared.db.engine import Database
from meeting_shared.db.models import Meeting, TranscriptLine, User
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import EmotionLabel
from meeting_shared.events import AsrTranscribed, Event, parse_event_data
from meeting_shared.services.actors import Actor
from meeting_shared.services.meetings import load_for_member

MAX_LINES = 10_000
MAX_SEARCH_WORDS = 8


class LineEmotion(BaseModel):
    """How a line sounded (VADER on its text): stored with the line, sent with its caption."""

    label: EmotionLabel
    score: float = Field(description="VADER's compound score, -1 (negative) .. 1 (positive)")


class TranscriptEntry(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    text: str
    language: str
    started_at: datetime
    ended_at: datetime
    emotion: LineEmotion | None = None


class Transcript(BaseModel):
    meeting_id: uuid.UUID
    title: str
    started_at: datetime | None
    lines: list[TranscriptEntry]


class TranscriptRecorder:
    """The consumer that stores caption lines (in the gateway's or relay's group)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(AsrTranscribed.event_type, self.record, name="transcripts")

    async def record(self, event: Event) -> None:
        line = parse_event_data(event)
        assert isinstance(line, AsrTranscribed)
        async with self._db.session() as session:
            session.add(
                TranscriptLine(
                    id=line.segment_id,
                    meeting_id=line.meeting_id,
                    speaker_id=line.user_id,
                    text=line.text,
                    language=line.language[:8],
                    started_at=line.started_at,
                    ended_at=line.ended_at,
                    emotion=line.emotion,
                    emotion_score=line.emotion_score,
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()  # stored already (a redelivery), or the meeting is gone


class TranscriptService:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def read(self, actor: Actor, meeting_id: uuid.UUID, query: str = "") -> Transcript:
        meeting, _ = await load_for_member(self._uow, meeting_id, actor)
        select_lines = (
            select(TranscriptLine, User.display_name)
            .join(User, User.id == TranscriptLine.speaker_id)
            .where(TranscriptLine.meeting_id == meeting_id)
            .order_by(TranscriptLine.started_at, TranscriptLine.id)
            .limit(MAX_LINES)
        )
        for word in query.split()[:MAX_SEARCH_WORDS]:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            select_lines = select_lines.where(
                TranscriptLine.text.ilike(f"%{escaped}%", escape="\\")
            )
        rows = (await self._uow.session.execute(select_lines)).all()
        return Transcript(
            meeting_id=meeting_id,
            title=meeting.title,
            started_at=_started(meeting),
            lines=[_entry(line, name) for line, name in rows],
        )

    async def lines_between(
        self, meeting_id: uuid.UUID, started_at: datetime, ended_at: datetime
    ) -> list[TranscriptEntry]:
        """The meeting's lines said (in part) between two moments, oldest first: the captions
        of a recording (for the mixing worker: no permission check)."""
        rows = await self._uow.session.execute(
            select(TranscriptLine, User.display_name)
            .join(User, User.id == TranscriptLine.speaker_id)
            .where(
                TranscriptLine.meeting_id == meeting_id,
                TranscriptLine.ended_at >= started_at,
                TranscriptLine.started_at <= ended_at,
            )
            .order_by(TranscriptLine.started_at, TranscriptLine.id)
        )
        return [_entry(line, name) for line, name in rows.all()]


def _started(meeting: Meeting) -> datetime | None:
    return meeting.started_at


def emotion_of(label: str | None, score: float | None) -> LineEmotion | None:
    """A line's emotion from its stored (or transcribed) label, if it is one we know."""
    if label in get_args(EmotionLabel):
        return LineEmotion.model_validate({"label": label, "score": score or 0.0})
    return None


def _entry(line: TranscriptLine, name: str) -> TranscriptEntry:
    emotion = emotion_of(line.emotion, line.emotion_score)
    return TranscriptEntry(
        id=line.id,
        user_id=line.speaker_id,
        display_name=name,
        text=line.text,
        language=line.language,
        started_at=line.started_at,
        ended_at=line.ended_at,
        emotion=emotion,
    )


def _origin(transcript: Transcript) -> datetime | None:
    if transcript.started_at is not None:
        return transcript.started_at
    return transcript.lines[0].started_at if transcript.lines else None


def _clock(offset: timedelta, *, millis: bool) -> str:
    total = max(0.0, offset.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if millis:
        return f"{int(hours):02d}:{int(minutes):02d}:{seconds:06.3f}"
    return f"{int(hours):02d}:{int(minutes):02d}:{int(seconds):02d}"


def as_text(transcript: Transcript) -> str:
    """``[00:01:02] Name: words`` per line, times from the meeting's start."""
    origin = _origin(transcript)
    out = [f"{transcript.title}\n"]
    for line in transcript.lines:
        stamp = _clock(line.started_at - origin, millis=False) if origin else "00:00:00"
        out.append(f"[{stamp}] {line.display_name}: {line.text}")
    return "\n".join(out) + "\n"


def _cue_text(text: str) -> str:
    # WebVTT cue text: no blank lines, and "-->" or markup characters escaped.
    cleaned = " ".join(text.split())
    return cleaned.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def as_webvtt(transcript: Transcript) -> str:
    """WebVTT with one cue per line and the speaker as a voice span (``<v Name>``)."""
    origin = _origin(transcript)
    out = ["WEBVTT", ""]
    for index, line in enumerate(transcript.lines, 1):
        start = _clock(line.started_at - origin, millis=True) if origin else "00:00:00.000"
        end = _clock(line.ended_at - origin, millis=True) if origin else "00:00:00.000"
        speaker = _cue_text(line.display_name).replace(">", "")
        out += [str(index), f"{start} --> {end}", f"<v {speaker}>{_cue_text(line.text)}", ""]
    return "\n".join(out)
