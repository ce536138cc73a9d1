"""Who may be in a meeting: joining (invites, passwords, lobby), leaving, roles and removal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import func, select, update

from meeting_shared.clock import utcnow
from meeting_shared.db.models import LobbyEntry, Meeting, MeetingInvite, Participant, User
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import (
    LobbyStatus,
    MeetingStatus,
    ParticipantRole,
    ParticipantState,
    UserStatus,
)
from meeting_shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from meeting_shared.events import (
    InviteCreated,
    ParticipantAdmitted,
    ParticipantDenied,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantRemoved,
    ParticipantRoleChanged,
    ParticipantWaiting,
)
from meeting_shared.security import (
    JoinClaims,
    PasswordHasher,
    TokenService,
    new_opaque_token,
    token_digest,
)
from meeting_shared.services.accounts import require_user
from meeting_shared.services.actors import Actor
from meeting_shared.services.meetings import (
    MANAGER_ROLES,
    hold_meeting,
    load_for_manager,
    load_for_member,
    mark_live,
    meeting_settings,
    membership,
    require_open,
)
from meeting_shared.services.nodes import NodeDirectory
from meeting_shared.services.rate_limits import RateLimiter
from meeting_shared.services.rooms import ParticipantInfo, open_room
from meeting_shared.settings import MediaNode


class JoinRequest(BaseModel):
    password: str | None = Field(default=None, max_length=64)
    invite_token: str | None = Field(default=None, max_length=200)


class InviteRequest(BaseModel):
    """Invite one user (by id or username), or create a shareable link when neither is given."""

    user_id: uuid.UUID | None = None
    username: str | None = Field(default=None, max_length=32)
    expires_in_hours: int | None = Field(default=72, ge=1, le=24 * 90)
    max_uses: int | None = Field(default=None, ge=1, le=10_000)


class RoleChange(BaseModel):
    role: ParticipantRole


@dataclass(frozen=True, slots=True)
class Admission:
    """A successful join: what the client needs to connect to its media node."""

    meeting: Meeting
    participant: Participant
    user: User
    node: MediaNode
    join_token: str
    join_token_expires_at: datetime


@dataclass(frozen=True, slots=True)
class Waiting:
    """The caller is in the lobby until a host admits them (``host``: whom they wait for)."""

    meeting: Meeting
    entry: LobbyEntry
    host: User | None


@dataclass(frozen=True, slots=True)
class CreatedInvite:
    invite: MeetingInvite
    token: str | None


class AttendanceService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        hasher: PasswordHasher,
        tokens: TokenService,
        limiter: RateLimiter,
        nodes: NodeDirectory,
    ) -> None:
        self._uow = uow
        self._db = uow.session
        self._hasher = hasher
        self._tokens = tokens
        self._limiter = limiter
        self._nodes = nodes

    # --- joining --------------------------------------------------------------------------------

    async def join(
        self, actor: Actor, meeting_id: uuid.UUID, request: JoinRequest
    ) -> Admission | Waiting:
        meeting = await self._db.get(Meeting, meeting_id)
        if meeting is None:
            raise NotFound("No such meeting", code="meeting_not_found")
        member = await membership(self._uow, meeting.id, actor.user_id)
        entry = await self._lobby_entry(meeting.id, actor.user_id)
        if member is not None and member.state == ParticipantState.REMOVED:
            raise Forbidden("You were removed from this meeting", code="removed_from_meeting")
        if member is None and entry is None:
            await self._authorize_newcomer(actor, meeting, request)
        require_open(meeting)

        is_manager = member is not None and member.role in MANAGER_ROLES
        if entry is not None and entry.status == LobbyStatus.DENIED and not is_manager:
            # A refusal stands even if the host later turns approval off; only admitting lifts it.
            raise Forbidden("A host declined your request to join", code="lobby_denied")
        if meeting_settings(meeting).require_approval and not is_manager:
            if entry is None:
                entry = LobbyEntry(
                    meeting_id=meeting.id, user_id=actor.user_id, status=LobbyStatus.WAITING
                )
                self._db.add(entry)
                self._uow.record(ParticipantWaiting(meeting_id=meeting.id, user_id=actor.user_id))
                await self._uow.commit()
                return Waiting(meeting, entry, await self._db.get(User, meeting.host_id))
            if entry.status == LobbyStatus.WAITING:
                return Waiting(meeting, entry, await self._db.get(User, meeting.host_id))

        await self._check_capacity(meeting, actor.user_id)
        if member is None:
            member = Participant(
                meeting_id=meeting.id, user_id=actor.user_id, role=ParticipantRole.PARTICIPANT
            )
            self._db.add(member)
        member.state = ParticipantState.JOINED
        member.joined_at = utcnow()
        member.left_at = None
        if meeting.status == MeetingStatus.SCHEDULED:
            mark_live(self._uow, meeting, actor.user_id)
        node = await open_room(self._uow, meeting.id, self._nodes)
        await self._db.flush()
        self._uow.record(
            ParticipantJoined(
                meeting_id=meeting.id, user_id=actor.user_id, role=member.role, node_id=node.id
            )
        )
        await self._uow.commit()
        token, expires = self._tokens.issue_join(
            user_id=actor.user_id,
            meeting_id=meeting.id,
            participant_id=member.id,
            role=member.role,
            node_id=node.id,
        )
        user = await require_user(self._uow, actor.user_id)
        return Admission(meeting, member, user, node, token, expires)

    async def _authorize_newcomer(
        self, actor: Actor, meeting: Meeting, request: JoinRequest
    ) -> None:
        """Someone with no membership yet: an invite link or the password lets them in."""
        if request.invite_token:
            await self._redeem_invite(meeting, request.invite_token)
            return
        if meeting.password_hash is None:
            raise NotFound("No such meeting", code="meeting_not_found")
        if not request.password:
            raise Forbidden("This meeting needs a password", code="password_required")
        await self._limiter.check("login", f"meeting:{meeting.id}:{actor.user_id}")
        if not await self._hasher.verify(meeting.password_hash, request.password):
            raise Forbidden("The meeting password is wrong", code="wrong_password")

    async def _redeem_invite(self, meeting: Meeting, token: str) -> None:
        now = utcnow()
        invite = await self._db.scalar(
            select(MeetingInvite).where(
                MeetingInvite.token_hash == token_digest(token),
                MeetingInvite.meeting_id == meeting.id,
            )
        )
        if (
            invite is None
            or invite.revoked_at is not None
            or (invite.expires_at is not None and invite.expires_at <= now)
        ):
            raise Forbidden("The invite link is invalid or has expired", code="invalid_invite")
        used = await self._db.execute(
            update(MeetingInvite)
            .where(
                MeetingInvite.id == invite.id,
                (MeetingInvite.max_uses.is_(None)) | (MeetingInvite.uses < MeetingInvite.max_uses),
            )
            .values(uses=MeetingInvite.uses + 1)
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise Forbidden("The invite link has been used up", code="invite_used_up")

    async def _check_capacity(self, meeting: Meeting, user_id: uuid.UUID) -> None:
        # Count with the meeting held: concurrent joins count one after the other, each seeing
        # those before it, so together they cannot pass max_participants.
        await hold_meeting(self._uow, meeting.id)
        present = await self._db.scalar(
            select(func.count()).where(
                Participant.meeting_id == meeting.id,
                Participant.state == ParticipantState.JOINED,
                Participant.user_id != user_id,
            )
        )
        if (present or 0) >= meeting.max_participants:
            raise Conflict("The meeting is full", code="meeting_full")

    async def leave(
        self, actor: Actor, meeting_id: uuid.UUID, *, stay: datetime | None = None
    ) -> None:
        """End the actor's stay in the meeting. With ``stay`` (when the ending stay began, as a
        media node's connection knows it) a leave for an older stay changes nothing: the person
        joined again since, and their new connection is on its way."""
        _, member = await load_for_member(self._uow, meeting_id, actor)
        if member.state != ParticipantState.JOINED:
            raise Conflict("You are not in this meeting", code="not_joined")
        if stay is not None and member.joined_at is not None and member.joined_at != stay:
            return
        member.state = ParticipantState.LEFT
        member.left_at = utcnow()
        self._uow.record(ParticipantLeft(meeting_id=meeting_id, user_id=actor.user_id))
        await self._uow.commit()

    # --- participants ---------------------------------------------------------------------------

    async def participants(
        self, actor: Actor, meeting_id: uuid.UUID
    ) -> list[tuple[Participant, User]]:
        await load_for_member(self._uow, meeting_id, actor)
        rows = await self._db.execute(
            select(Participant, User)
            .join(User, User.id == Participant.user_id)
            .where(
                Participant.meeting_id == meeting_id, Participant.state != ParticipantState.REMOVED
            )
            .order_by(Participant.created_at)
        )
        return [(participant, user) for participant, user in rows.all()]

    async def change_role(
        self, actor: Actor, meeting_id: uuid.UUID, user_id: uuid.UUID, change: RoleChange
    ) -> Participant:
        meeting, me = await load_for_manager(self._uow, meeting_id, actor)
        require_open(meeting)
        target = await self._target(meeting_id, user_id)
        if target.user_id == actor.user_id:
            raise Forbidden("You cannot change your own role", code="self_action")
        new_role = change.role
        if me.role != ParticipantRole.HOST and (
            target.role in MANAGER_ROLES or new_role in MANAGER_ROLES
        ):
            raise Forbidden("Only the host may grant or change host roles", code="not_meeting_host")
        if new_role == ParticipantRole.HOST:
            # Handing over: the new host takes the meeting, the old host stays as co-host.
            me.role = ParticipantRole.CO_HOST
            meeting.host_id = target.user_id
            self._uow.record(
                ParticipantRoleChanged(
                    meeting_id=meeting_id,
                    user_id=actor.user_id,
                    role=me.role,
                    actor_id=actor.user_id,
                )
            )
        target.role = new_role
        self._uow.record(
            ParticipantRoleChanged(
                meeting_id=meeting_id, user_id=user_id, role=new_role, actor_id=actor.user_id
            )
        )
        await self._uow.commit()
        return target

    async def remove(self, actor: Actor, meeting_id: uuid.UUID, user_id: uuid.UUID) -> None:
        meeting, me = await load_for_manager(self._uow, meeting_id, actor)
        target = await self._target(meeting_id, user_id)
        if target.user_id == actor.user_id:
            raise Forbidden("Use leave to leave a meeting", code="self_action")
        if target.role == ParticipantRole.HOST or (
            target.role == ParticipantRole.CO_HOST and me.role != ParticipantRole.HOST
        ):
            raise Forbidden("You cannot remove this participant", code="not_meeting_host")
        target.state = ParticipantState.REMOVED
        target.left_at = utcnow()
        self._uow.record(
            ParticipantRemoved(meeting_id=meeting.id, user_id=user_id, actor_id=actor.user_id)
        )
        await self._uow.commit()

    async def _target(self, meeting_id: uuid.UUID, user_id: uuid.UUID) -> Participant:
        target = await membership(self._uow, meeting_id, user_id)
        if target is None or target.state == ParticipantState.REMOVED:
            raise NotFound("No such participant", code="participant_not_found")
        return target

    # --- lobby ----------------------------------------------------------------------------------

    async def lobby(self, actor: Actor, meeting_id: uuid.UUID) -> list[tuple[LobbyEntry, User]]:
        await load_for_manager(self._uow, meeting_id, actor)
        rows = await self._db.execute(
            select(LobbyEntry, User)
            .join(User, User.id == LobbyEntry.user_id)
            .where(LobbyEntry.meeting_id == meeting_id, LobbyEntry.status == LobbyStatus.WAITING)
            .order_by(LobbyEntry.requested_at)
        )
        return [(entry, user) for entry, user in rows.all()]

    async def decide(
        self, actor: Actor, meeting_id: uuid.UUID, user_id: uuid.UUID, *, admit: bool
    ) -> LobbyEntry:
        meeting, _ = await load_for_manager(self._uow, meeting_id, actor)
        require_open(meeting)
        entry = await self._lobby_entry(meeting_id, user_id)
        if entry is None:
            raise NotFound("Nobody by that id is in the lobby", code="lobby_entry_not_found")
        if entry.status != LobbyStatus.WAITING and not (
            admit and entry.status == LobbyStatus.DENIED
        ):
            raise Conflict(f"The request was already {entry.status}", code="lobby_already_decided")
        entry.status = LobbyStatus.ADMITTED if admit else LobbyStatus.DENIED
        entry.decided_at = utcnow()
        entry.decided_by = actor.user_id
        if admit:
            if await membership(self._uow, meeting_id, user_id) is None:
                self._db.add(
                    Participant(
                        meeting_id=meeting_id, user_id=user_id, role=ParticipantRole.PARTICIPANT
                    )
                )
            self._uow.record(
                ParticipantAdmitted(meeting_id=meeting_id, user_id=user_id, actor_id=actor.user_id)
            )
        else:
            self._uow.record(
                ParticipantDenied(meeting_id=meeting_id, user_id=user_id, actor_id=actor.user_id)
            )
        await self._uow.commit()
        return entry

    async def _lobby_entry(self, meeting_id: uuid.UUID, user_id: uuid.UUID) -> LobbyEntry | None:
        return await self._db.scalar(
            select(LobbyEntry).where(
                LobbyEntry.meeting_id == meeting_id, LobbyEntry.user_id == user_id
            )
        )

    # --- invites --------------------------------------------------------------------------------

    async def invite(
        self, actor: Actor, meeting_id: uuid.UUID, request: InviteRequest
    ) -> CreatedInvite:
        meeting, _ = await load_for_manager(self._uow, meeting_id, actor)
        require_open(meeting)
        expires_at = (
            utcnow() + timedelta(hours=request.expires_in_hours)
            if request.expires_in_hours
            else None
        )
        invitee = await self._invitee(request)
        token: str | None = None
        invite = MeetingInvite(
            id=uuid.uuid4(), meeting_id=meeting_id, created_by=actor.user_id, expires_at=expires_at
        )
        if invitee is not None:
            invite.invitee_id = invitee.id
            member = await membership(self._uow, meeting_id, invitee.id)
            if member is None:
                self._db.add(
                    Participant(
                        meeting_id=meeting_id, user_id=invitee.id, role=ParticipantRole.PARTICIPANT
                    )
                )
            elif member.state == ParticipantState.REMOVED:
                member.state = ParticipantState.INVITED  # a host inviting again lifts a removal
        else:
            token = new_opaque_token()
            invite.token_hash = token_digest(token)
            invite.max_uses = request.max_uses
        self._db.add(invite)
        self._uow.record(
            InviteCreated(
                meeting_id=meeting_id,
                invite_id=invite.id,
                actor_id=actor.user_id,
                invitee_id=invitee.id if invitee else None,
            )
        )
        await self._uow.commit()
        return CreatedInvite(invite, token)

    async def _invitee(self, request: InviteRequest) -> User | None:
        if request.user_id is not None:
            return await require_user(self._uow, request.user_id)
        if request.username is not None:
            user = await self._db.scalar(
                select(User).where(User.username == request.username.lower())
            )
            if user is None:
                raise InvalidInput(
                    "No user has that username", field="username", code="user_not_found"
                )
            return await require_user(self._uow, user.id)
        return None

    # --- the media node's live rooms (used by meeting_sfu.signaling) ----------------------------

    async def admit_to_room(self, claims: JoinClaims) -> tuple[ParticipantInfo, Meeting] | None:
        """Whom a join token lets into the meeting's room, as the room shows them: the meeting
        must be live (else ``meeting_not_live``), the participant still joined and their account
        active (else None: the token's holder is no longer a participant)."""
        meeting = await self._db.get(Meeting, claims.meeting_id)
        participant = await self._db.get(Participant, claims.participant_id)
        user = await self._db.get(User, claims.user_id)
        if meeting is None or meeting.status != MeetingStatus.LIVE:
            raise Conflict("The meeting is not live", code="meeting_not_live")
        if (
            participant is None
            or participant.user_id != claims.user_id
            or participant.state != ParticipantState.JOINED
            or user is None
            or user.status != UserStatus.ACTIVE
        ):
            return None
        info = ParticipantInfo(
            participant_id=participant.id,
            user_id=user.id,
            display_name=user.display_name,
            role=participant.role,
            audio_muted=meeting_settings(meeting).mute_on_join
            and participant.role != ParticipantRole.HOST,
            joined_at=participant.joined_at or meeting.started_at or meeting.created_at,
        )
        return info, meeting

    async def require_manager(self, actor: Actor, meeting_id: uuid.UUID) -> None:
        """Refuses anyone but the meeting's host and co-hosts (for moderation in the room)."""
        await load_for_manager(self._uow, meeting_id, actor)

    async def left_live_meeting(self, meeting_id: uuid.UUID, participant_id: uuid.UUID) -> bool:
        """Whether a participant's stay has ended while the meeting goes on: not joined (again)
        and the meeting still live."""
        meeting = await self._db.get(Meeting, meeting_id)
        if meeting is None or meeting.status != MeetingStatus.LIVE:
            return False
        participant = await self._db.get(Participant, participant_id)
        return participant is None or participant.state != ParticipantState.JOINED

    async def lobby_request(
        self, meeting_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[LobbyEntry, User] | None:
        """Someone's lobby entry in a meeting and who they are; None when either is gone."""
        user = await self._db.get(User, user_id)
        entry = await self._lobby_entry(meeting_id, user_id)
        if user is None or entry is None:
            return None
        return entry, user
