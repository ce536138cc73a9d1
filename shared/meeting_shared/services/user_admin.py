"""What administrators do with other people's accounts."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field
from sqlalchemy import or_, select

from meeting_shared.db.models import User
from meeting_shared.db.pagination import Page, PageRequest, like_pattern, paginate
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import UserRole, UserStatus
from meeting_shared.errors import Conflict, Forbidden
from meeting_shared.events import (
    UserBanned,
    UserRoleChanged,
    UserUnbanned,
    UserUpdated,
)
from meeting_shared.security import PasswordHasher
from meeting_shared.services.accounts import (
    DisplayName,
    Email,
    Registration,
    Username,
    add_user,
    apply_changes,
    close_account,
    confirm_email_change,
    count_active_admins,
    ensure_unique_identity,
    require_user,
    revoke_user_sessions,
)
from meeting_shared.services.actors import Actor
from meeting_shared.services.sessions import SessionRevocations


class UserAdminChange(BaseModel):
    username: Username | None = None
    email: Email | None = None
    display_name: DisplayName | None = None
    role: UserRole | None = None
    current_password: str | None = Field(
        default=None,
        max_length=128,
        description="Your own password: required when you change your own email",
    )


class BanRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class UserAdminService:
    def __init__(
        self, uow: UnitOfWork, *, revocations: SessionRevocations, hasher: PasswordHasher
    ) -> None:
        self._uow = uow
        self._db = uow.session
        self._revocations = revocations
        self._hasher = hasher

    async def list_users(
        self,
        page: PageRequest,
        *,
        q: str | None = None,
        status: UserStatus | None = None,
        role: UserRole | None = None,
    ) -> Page[User]:
        query = select(User).order_by(User.created_at.desc(), User.id)
        if status is None:
            query = query.where(User.status != UserStatus.DELETED)
        else:
            query = query.where(User.status == status)
        if role is not None:
            query = query.where(User.role == role)
        if q:
            pattern = like_pattern(q)
            query = query.where(
                or_(
                    User.username.like(pattern, escape="\\"),
                    User.email.like(pattern, escape="\\"),
                    User.display_name.ilike(pattern, escape="\\"),
                )
            )
        return await paginate(self._db, query, page)

    async def get_user(self, user_id: uuid.UUID) -> User:
        return await require_user(self._uow, user_id)

    async def update_user(self, actor: Actor, user_id: uuid.UUID, change: UserAdminChange) -> User:
        user = await require_user(self._uow, user_id)
        if user.id == actor.user_id:  # one's own account: the rules of /users/me apply
            await confirm_email_change(self._hasher, user, change.email, change.current_password)
        await ensure_unique_identity(
            self._uow, username=change.username, email=change.email, except_id=user.id
        )
        values = change.model_dump(
            exclude_unset=True, exclude_none=True, exclude={"current_password"}
        )
        new_role = values.pop("role", None)
        changed = apply_changes(user, values)
        if changed:
            self._uow.record(UserUpdated(user_id=user.id, fields=changed, actor_id=actor.user_id))
        if new_role is not None and new_role != user.role:
            await self._change_role(actor, user, UserRole(new_role))
        await self._uow.commit()
        return user

    async def ban(self, actor: Actor, user_id: uuid.UUID, request: BanRequest) -> User:
        user = await require_user(self._uow, user_id)
        self._refuse_self(actor, user, "ban")
        if user.status == UserStatus.BANNED:
            raise Conflict("The user is already banned", code="already_banned")
        user.status = UserStatus.BANNED
        user.ban_reason = request.reason
        await revoke_user_sessions(self._uow, self._revocations, user.id)
        self._uow.record(UserBanned(user_id=user.id, actor_id=actor.user_id, reason=request.reason))
        await self._uow.commit()
        return user

    async def unban(self, actor: Actor, user_id: uuid.UUID) -> User:
        user = await require_user(self._uow, user_id)
        if user.status != UserStatus.BANNED:
            raise Conflict("The user is not banned", code="not_banned")
        user.status = UserStatus.ACTIVE
        user.ban_reason = None
        self._uow.record(UserUnbanned(user_id=user.id, actor_id=actor.user_id))
        await self._uow.commit()
        return user

    async def delete_user(self, actor: Actor, user_id: uuid.UUID) -> str | None:
        user = await require_user(self._uow, user_id)
        self._refuse_self(actor, user, "delete")
        return await close_account(self._uow, self._revocations, user, actor_id=actor.user_id)

    async def _change_role(self, actor: Actor, user: User, role: UserRole) -> None:
        # Admins may step down while another active admin remains; a banned admin is not active.
        if (
            user.role == UserRole.ADMIN
            and role != UserRole.ADMIN
            and user.status == UserStatus.ACTIVE
            and await count_active_admins(self._uow) <= 1
        ):
            raise Conflict("The last administrator cannot be demoted", code="last_admin")
        user.role = role
        # Tokens carry the role: end the user's sessions so the new role applies at once.
        await revoke_user_sessions(self._uow, self._revocations, user.id)
        self._uow.record(UserRoleChanged(user_id=user.id, role=role, actor_id=actor.user_id))

    @staticmethod
    def _refuse_self(actor: Actor, user: User, action: str) -> None:
        if actor.user_id == user.id:
            raise Forbidden(f"Administrators cannot {action} themselves", code="self_action")


async def create_admin(uow: UnitOfWork, hasher: PasswordHasher, registration: Registration) -> User:
    """Bootstrap an administrator (``meeting admin create``), bypassing sign-up rate limits."""
    user = await add_user(uow, hasher, registration, role=UserRole.ADMIN)
    uow.record(UserRoleChanged(user_id=user.id, role=UserRole.ADMIN, actor_id=user.id))
    await uow.commit()
    return user
