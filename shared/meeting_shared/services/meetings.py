"""Meetings: scheduling, settings, life cycle (scheduled → live → ended, or cancelled), listings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Protocol, Self

from pydantic import BaseModel, Field, StringConstraints, model_validator
from sqlalchemy import or_, select, update

from meeting_shared.clock import UtcDatetime, utcnow
from meeting_shared.db.models import Meeting, Participant, Room
from meeting_shared.db.pagination import (
    AnySelect,
    Page,
    PageRequest,
    like_pattern,
    paginate,
)
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import MeetingStatus, MeetingType, ParticipantRole, ParticipantState
from meeting_shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from meeting_shared.events import (
    MeetingCancelled,
    MeetingCreated,
    MeetingEnded,
    MeetingStarted,
    MeetingUpdated,
    ParticipantLeft,
)
from meeting_shared.security import PasswordHasher
from meeting_shared.services.actors import Actor
from meeting_shared.services.recording_stops import stop_active_recording

MANAGER_ROLES = frozenset({ParticipantRole.HOST, ParticipantRole.CO_HOST})
CLOSED_STATUSES = frozenset({MeetingStatus.ENDED, MeetingStatus.CANCELLED})
MAX_DURATION = timedelta(hours=24)
DEFAULT_DURATION = timedelta(hours=1)
MeetingPassword = Annotated[str, StringConstraints(min_length=4, max_length=64)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


# "auto" (detect per line) or an ISO 639-1 code Whisper knows.
CaptionLanguage = Annotated[str, StringConstraints(pattern=r"^(auto|[a-z]{2,3})$")]


class MeetingSettings(BaseModel):
    video: bool = True
    audio: bool = True
    screen_share: bool = True
    chat: bool = True
    recording: bool = False
    ai: bool = Field(default=False, description="Live captions, transcript and AI cues")
    ai_language: CaptionLanguage = Field(default="auto", description="Spoken language")
    ai_emotion: bool = Field(default=True, description="Emotion cues (when ai is on)")
    mute_on_join: bool = False
    require_approval: bool = False


class MeetingSettingsChange(BaseModel):
    video: bool | None = None
    audio: bool | None = None
    screen_share: bool | None = None
    chat: bool | None = None
    recording: bool | None = None
    ai: bool | None = None
    ai_language: CaptionLanguage | None = None
    ai_emotion: bool | None = None
    mute_on_join: bool | None = None
    require_approval: bool | None = None


class MeetingDraft(BaseModel):
    title: Title
    description: str = Field(default="", max_length=5000)
    start_time: UtcDatetime | None = Field(default=None, description="Default: now")
    end_time: UtcDatetime | None = Field(default=None, description="Default: one hour after start")
    meeting_type: MeetingType = MeetingType.VIDEO
    password: MeetingPassword | None = None
    max_participants: int = Field(default=100, ge=2, le=1000)
    settings: MeetingSettings = Field(default_factory=MeetingSettings)


class MeetingChange(BaseModel):
    """A partial update; send ``"password": null`` to remove the password."""

    title: Title | None = None
    description: str | None = Field(default=None, max_length=5000)
    start_time: UtcDatetime | None = None
    end_time: UtcDatetime | None = None
    meeting_type: MeetingType | None = None
    password: MeetingPassword | None = None
    max_participants: int | None = Field(default=None, ge=2, le=1000)
    settings: MeetingSettingsChange | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        return self


class MeetingRecord(Protocol):
    """What views read of a meeting: an ORM ``Meeting`` or a plain row of the meetings table
    (list pages read rows: building ORM objects costs more than the query)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def host_id(self) -> uuid.UUID: ...
    @property
    def meeting_type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def start_time(self) -> datetime: ...
    @property
    def end_time(self) -> datetime: ...
    @property
    def password_hash(self) -> str | None: ...
    @property
    def max_participants(self) -> int: ...
    @property
    def settings(self) -> dict[str, Any]: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def ended_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class MeetingView:
    meeting: MeetingRecord
    my_role: ParticipantRole | None


def check_schedule(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidInput(
            "end_time must be after start_time", field="end_time", code="invalid_schedule"
        )
    if end - start > MAX_DURATION:
        raise InvalidInput(
            "A meeting may last at most 24 hours", field="end_time", code="invalid_schedule"
        )


def default_end(start: datetime) -> datetime:
    """The end of a meeting scheduled without one: an hour after it starts."""
    try:
        return start + DEFAULT_DURATION
    except OverflowError as exc:  # a start in the last hour of the year 9999
        raise InvalidInput(
            "start_time leaves no room for the default one-hour meeting; give end_time",
            field="start_time",
            code="invalid_schedule",
        ) from exc


def meeting_settings(meeting: Meeting) -> MeetingSettings:
    return MeetingSettings.model_validate(meeting.settings or {})


def require_open(meeting: Meeting) -> None:
    if meeting.status in CLOSED_STATUSES:
        raise Conflict(f"The meeting is {meeting.status}", code=f"meeting_{meeting.status}")


async def membership(
    uow: UnitOfWork, meeting_id: uuid.UUID, user_id: uuid.UUID
) -> Participant | None:
    return await uow.session.scalar(
        select(Participant).where(
            Participant.meeting_id == meeting_id, Participant.user_id == user_id
        )
    )


async def hold_meeting(uow: UnitOfWork, meeting_id: uuid.UUID) -> None:
    """Serialise this transaction with others that hold the same meeting, until it ends.

    A write to the meeting's row that changes nothing does it on both databases: PostgreSQL
    locks the row (as ``SELECT ... FOR UPDATE`` would), SQLite takes its one write lock (it has
    no row locks and ignores ``FOR UPDATE``; a plain read would not wait for other writers).
    What the transaction reads afterwards includes every change committed by earlier holders.
    """
    await uow.session.execute(
        update(Meeting)
        .where(Meeting.id == meeting_id)
        # Naming updated_at keeps its on-update default from firing: nothing changes.
        .values(max_participants=Meeting.max_participants, updated_at=Meeting.updated_at)
        .execution_options(synchronize_session=False)
    )


async def load_for_member(
    uow: UnitOfWork, meeting_id: uuid.UUID, actor: Actor
) -> tuple[Meeting, Participant]:
    """The meeting and the caller's membership; non-members get the same 404 as a missing id."""
    meeting = await uow.session.get(Meeting, meeting_id)
    member = await membership(uow, meeting_id, actor.user_id) if meeting else None
    if meeting is None or member is None or member.state == ParticipantState.REMOVED:
        raise NotFound("No such meeting", code="meeting_not_found")
    return meeting, member


async def load_for_manager(
    uow: UnitOfWork, meeting_id: uuid.UUID, actor: Actor
) -> tuple[Meeting, Participant]:
    meeting, member = await load_for_member(uow, meeting_id, actor)
    if member.role not in MANAGER_ROLES:
        raise Forbidden("Only the host or a co-host may do this", code="not_meeting_manager")
    return meeting, member


async def end_meeting(uow: UnitOfWork, meeting: Meeting, actor_id: uuid.UUID) -> None:
    """End a meeting for everyone: members leave, the room closes, ``meeting.ended`` is recorded."""
    require_open(meeting)
    now = utcnow()
    meeting.status = MeetingStatus.ENDED
    meeting.ended_at = now
    left = await uow.session.scalars(
        select(Participant.user_id).where(
            Participant.meeting_id == meeting.id, Participant.state == ParticipantState.JOINED
        )
    )
    for user_id in left.all():
        uow.record(ParticipantLeft(meeting_id=meeting.id, user_id=user_id))
    await uow.session.execute(
        update(Participant)
        .where(Participant.meeting_id == meeting.id, Participant.state == ParticipantState.JOINED)
        .values(state=ParticipantState.LEFT, left_at=now)
    )
    await uow.session.execute(
        update(Room)
        .where(Room.meeting_id == meeting.id, Room.closed_at.is_(None))
        .values(closed_at=now)
    )
    await stop_active_recording(uow, meeting.id)
    uow.record(MeetingEnded(meeting_id=meeting.id, actor_id=actor_id))


async def cancel_hosted_meetings(uow: UnitOfWork, host_id: uuid.UUID) -> None:
    """When a host's account closes, their scheduled meetings are cancelled and live ones ended."""
    meetings = await uow.session.scalars(
        select(Meeting).where(
            Meeting.host_id == host_id,
            Meeting.status.in_([MeetingStatus.SCHEDULED, MeetingStatus.LIVE]),
        )
    )
    for meeting in meetings.all():
        if meeting.status == MeetingStatus.LIVE:
            await end_meeting(uow, meeting, host_id)
        else:
            meeting.status = MeetingStatus.CANCELLED
            uow.record(MeetingCancelled(meeting_id=meeting.id, actor_id=host_id))


class MeetingService:
    def __init__(self, uow: UnitOfWork, *, hasher: PasswordHasher) -> None:
        self._uow = uow
        self._db = uow.session
        self._hasher = hasher

    async def create(self, actor: Actor, draft: MeetingDraft) -> MeetingView:
        now = utcnow()
        start = draft.start_time or now
        end = draft.end_time or default_end(start)
        if start < now - timedelta(minutes=10):
            raise InvalidInput(
                "start_time is in the past", field="start_time", code="start_in_past"
            )
        check_schedule(start, end)
        meeting = Meeting(
            id=uuid.uuid4(),
            title=draft.title,
            description=draft.description,
            host_id=actor.user_id,
            meeting_type=draft.meeting_type,
            status=MeetingStatus.SCHEDULED,
            start_time=start,
            end_time=end,
            password_hash=await self._hash(draft.password),
            max_participants=draft.max_participants,
            settings=draft.settings.model_dump(),
        )
        self._db.add(meeting)
        self._db.add(
            Participant(
                meeting_id=meeting.id,
                user_id=actor.user_id,
                role=ParticipantRole.HOST,
                state=ParticipantState.INVITED,
            )
        )
        self._uow.record(
            MeetingCreated(
                meeting_id=meeting.id, host_id=actor.user_id, title=meeting.title, start_time=start
            )
        )
        await self._uow.commit()
        return MeetingView(meeting, ParticipantRole.HOST)

    async def get(self, actor: Actor, meeting_id: uuid.UUID) -> MeetingView:
        meeting, member = await load_for_member(self._uow, meeting_id, actor)
        return MeetingView(meeting, ParticipantRole(member.role))

    async def update(
        self, actor: Actor, meeting_id: uuid.UUID, change: MeetingChange
    ) -> MeetingView:
        meeting, member = await load_for_manager(self._uow, meeting_id, actor)
        require_open(meeting)
        fields = change.model_fields_set
        changed: list[str] = []
        for name in ("title", "description", "meeting_type", "max_participants"):
            value = getattr(change, name)
            if name in fields and value is not None and getattr(meeting, name) != value:
                setattr(meeting, name, value)
                changed.append(name)
        start = change.start_time if change.start_time is not None else meeting.start_time
        end = change.end_time if change.end_time is not None else meeting.end_time
        if (start, end) != (meeting.start_time, meeting.end_time):
            if meeting.status == MeetingStatus.LIVE and start != meeting.start_time:
                raise Conflict("A live meeting's start time cannot change", code="meeting_live")
            check_schedule(start, end)
            meeting.start_time, meeting.end_time = start, end
            changed.append("schedule")
        if "password" in fields:
            meeting.password_hash = await self._hash(change.password)
            changed.append("password")
        if change.settings is not None:
            updates = change.settings.model_dump(exclude_none=True)
            merged = {**meeting_settings(meeting).model_dump(), **updates}
            if merged != meeting.settings:
                meeting.settings = merged
                changed.append("settings")
        if changed:
            self._uow.record(
                MeetingUpdated(meeting_id=meeting.id, actor_id=actor.user_id, fields=changed)
            )
            await self._uow.commit()
        return MeetingView(meeting, ParticipantRole(member.role))

    async def cancel(self, actor: Actor, meeting_id: uuid.UUID) -> None:
        meeting, member = await load_for_member(self._uow, meeting_id, actor)
        if member.role != ParticipantRole.HOST:
            raise Forbidden("Only the host may cancel the meeting", code="not_meeting_host")
        require_open(meeting)
        if meeting.status == MeetingStatus.LIVE:
            raise Conflict("The meeting is live; end it first", code="meeting_live")
        meeting.status = MeetingStatus.CANCELLED
        self._uow.record(MeetingCancelled(meeting_id=meeting.id, actor_id=actor.user_id))
        await self._uow.commit()

    async def start(self, actor: Actor, meeting_id: uuid.UUID) -> MeetingView:
        meeting, member = await load_for_manager(self._uow, meeting_id, actor)
        require_open(meeting)
        if meeting.status == MeetingStatus.LIVE:
            raise Conflict("The meeting is already live", code="meeting_already_live")
        mark_live(self._uow, meeting, actor.user_id)
        await self._uow.commit()
        return MeetingView(meeting, ParticipantRole(member.role))

    async def end(self, actor: Actor, meeting_id: uuid.UUID) -> MeetingView:
        meeting, member = await load_for_manager(self._uow, meeting_id, actor)
        await end_meeting(self._uow, meeting, actor.user_id)
        await self._uow.commit()
        return MeetingView(meeting, ParticipantRole(member.role))

    # --- listings ------------------------------------------------------------------------------

    def _mine(self, actor: Actor) -> AnySelect:
        return (
            select(Meeting.__table__, Participant.role)
            .join(Participant, Participant.meeting_id == Meeting.id)
            .where(
                Participant.user_id == actor.user_id, Participant.state != ParticipantState.REMOVED
            )
        )

    async def list_mine(
        self, actor: Actor, page: PageRequest, *, status: MeetingStatus | None = None
    ) -> Page[MeetingView]:
        query = self._mine(actor).order_by(Meeting.start_time.desc(), Meeting.id)
        if status is not None:
            query = query.where(Meeting.status == status)
        return await self._page(query, page)

    async def upcoming(self, actor: Actor, page: PageRequest) -> Page[MeetingView]:
        now = utcnow()
        query = (
            self._mine(actor)
            .where(
                or_(
                    Meeting.status == MeetingStatus.LIVE,
                    (Meeting.status == MeetingStatus.SCHEDULED) & (Meeting.end_time > now),
                )
            )
            .order_by(Meeting.start_time, Meeting.id)
        )
        return await self._page(query, page)

    async def history(self, actor: Actor, page: PageRequest) -> Page[MeetingView]:
        now = utcnow()
        query = (
            self._mine(actor)
            .where(
                or_(
                    Meeting.status.in_([MeetingStatus.ENDED, MeetingStatus.CANCELLED]),
                    (Meeting.status == MeetingStatus.SCHEDULED) & (Meeting.end_time <= now),
                )
            )
            .order_by(Meeting.start_time.desc(), Meeting.id)
        )
        return await self._page(query, page)

    async def _page(self, query: AnySelect, page: PageRequest) -> Page[MeetingView]:
        rows = await paginate(self._db, query, page, whole_rows=True)
        return Page(
            items=[MeetingView(row, ParticipantRole(row.role)) for row in rows.items],
            total=rows.total,
            page=rows.page,
            page_size=rows.page_size,
        )

    # --- administration ---------------------------------------------------------------------------

    async def admin_list(
        self, page: PageRequest, *, status: MeetingStatus | None = None, q: str | None = None
    ) -> Page[Meeting]:
        query = select(Meeting).order_by(Meeting.start_time.desc(), Meeting.id)
        if status is not None:
            query = query.where(Meeting.status == status)
        if q:
            query = query.where(Meeting.title.ilike(like_pattern(q), escape="\\"))
        return await paginate(self._db, query, page)

    async def admin_end(self, actor: Actor, meeting_id: uuid.UUID) -> Meeting:
        meeting = await self._db.get(Meeting, meeting_id)
        if meeting is None:
            raise NotFound("No such meeting", code="meeting_not_found")
        await end_meeting(self._uow, meeting, actor.user_id)
        await self._uow.commit()
        return meeting

    async def _hash(self, password: str | None) -> str | None:
        return await self._hasher.hash(password) if password else None

    # --- the media node's live rooms (used by meeting_sfu.ai) -----------------------------------

    async def settings_of(self, meeting_id: uuid.UUID) -> MeetingSettings | None:
        """A meeting's settings as stored now (a live room follows changes); None if it is gone."""
        meeting = await self._db.get(Meeting, meeting_id)
        return meeting_settings(meeting) if meeting is not None else None


def mark_live(uow: UnitOfWork, meeting: Meeting, actor_id: uuid.UUID) -> None:
    meeting.status = MeetingStatus.LIVE
    meeting.started_at = utcnow()
    uow.record(MeetingStarted(meeting_id=meeting.id, actor_id=actor_id))
