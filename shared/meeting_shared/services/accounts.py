"""Accounts: registration, login sessions with rotating refresh tokens, password reset, profile."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, EmailStr, Field, StringConstraints
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from meeting_shared.clock import utcnow
from meeting_shared.db.models import PasswordResetToken, RefreshToken, User
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import UserRole, UserStatus
from meeting_shared.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from meeting_shared.events import (
    PasswordChanged,
    PasswordResetRequested,
    UserDeleted,
    UserRegistered,
    UserUpdated,
)
from meeting_shared.security import (
    PasswordHasher,
    Sealer,
    TokenService,
    new_opaque_token,
    token_digest,
)
from meeting_shared.services.actors import Actor
from meeting_shared.services.meetings import cancel_hosted_meetings
from meeting_shared.services.rate_limits import RateLimiter
from meeting_shared.services.sessions import SessionRevocations

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$"
    ),
    AfterValidator(str.lower),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Locale = Annotated[str, StringConstraints(pattern=r"^(en|zh-CN)$")]


def _normalise_email(email: str) -> str:
    return email.strip().lower()


Email = Annotated[EmailStr, AfterValidator(_normalise_email)]


class Registration(BaseModel):
    username: Username
    email: Email
    password: Password
    display_name: DisplayName | None = None


class Credentials(BaseModel):
    login: str = Field(min_length=1, max_length=254, description="Username or email")
    password: str = Field(min_length=1, max_length=128)


class ProfileChange(BaseModel):
    username: Username | None = None
    email: Email | None = None
    display_name: DisplayName | None = None
    locale: Locale | None = None
    current_password: str | None = Field(
        default=None, max_length=128, description="Required to change the email address"
    )


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=128)
    new_password: Password


class PasswordResetConfirmation(BaseModel):
    token: str = Field(min_length=10, max_length=200)
    new_password: Password


@dataclass(frozen=True, slots=True)
class IssuedSession:
    user: User
    session_id: uuid.UUID
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


def check_password_strength(password: str, *, username: str, email: str) -> None:
    lowered = password.lower()
    if lowered in (username.lower(), email.lower()) or len(set(password)) < 4:
        raise InvalidInput(
            "The password is too easy to guess", field="password", code="weak_password"
        )


@dataclass(frozen=True, slots=True)
class IssuedReset:
    """A reset link's token (in clear, for the mail only) and whom it is for."""

    user: User
    token: str
    expires_at: datetime


async def issue_password_reset(
    session: AsyncSession, email: str, *, ttl_seconds: int
) -> IssuedReset | None:
    """A new reset token for the active account of ``email`` (stored as its digest), or None
    when the address has no active account. The caller commits."""
    user = await session.scalar(select(User).where(User.email == _normalise_email(email)))
    if user is None or user.status != UserStatus.ACTIVE:
        return None
    token = new_opaque_token()
    expires_at = utcnow() + timedelta(seconds=ttl_seconds)
    session.add(
        PasswordResetToken(user_id=user.id, token_hash=token_digest(token), expires_at=expires_at)
    )
    return IssuedReset(user=user, token=token, expires_at=expires_at)


class AccountService:
    """What a user does with their own account."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        hasher: PasswordHasher,
        tokens: TokenService,
        revocations: SessionRevocations,
        limiter: RateLimiter,
        sealer: Sealer,
        refresh_ttl: int,
    ) -> None:
        self._uow = uow
        self._db = uow.session
        self._hasher = hasher
        self._tokens = tokens
        self._revocations = revocations
        self._limiter = limiter
        self._sealer = sealer
        self._refresh_ttl = refresh_ttl

    # --- registration and login ---------------------------------------------------------------

    async def register(self, data: Registration, *, client_ip: str) -> User:
        await self._limiter.check("register", client_ip)
        user = await add_user(self._uow, self._hasher, data, role=UserRole.USER)
        await self._uow.commit()
        return user

    async def login(
        self, credentials: Credentials, *, client_ip: str, user_agent: str | None
    ) -> IssuedSession:
        login = credentials.login.strip().lower()
        await self._limiter.check("login_ip", client_ip)
        user = await self._db.scalar(
            select(User).where(or_(User.username == login, User.email == login))
        )
        # Guesses count against the account, whichever of its names they use; a login that
        # names no account counts against its text, after the same lookup.
        account = f"user:{user.id}" if user else f"unknown:{login}"
        await self._limiter.check("login", f"{account}|{client_ip}")
        password_hash = user.password_hash if user else None
        ok = await self._hasher.verify(password_hash, credentials.password)
        if user is None or not ok or user.status == UserStatus.DELETED:
            raise Unauthenticated("Wrong username/email or password", code="invalid_credentials")
        if user.status == UserStatus.BANNED:
            raise Forbidden("This account is banned", code="account_banned")
        if password_hash and self._hasher.needs_rehash(password_hash):
            user.password_hash = await self._hash(credentials.password)
        user.last_login_at = utcnow()
        issued = self._start_session(user, user_agent=user_agent)
        await self._uow.commit()
        return issued

    async def refresh(
        self, refresh_token: str, *, client_ip: str, user_agent: str | None
    ) -> IssuedSession:
        await self._limiter.check("refresh", client_ip)
        now = utcnow()
        record = await self._db.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_digest(refresh_token))
        )
        if record is None or record.revoked_at is not None or record.expires_at <= now:
            raise Unauthenticated("The refresh token is not valid", code="invalid_refresh_token")
        # Rotate atomically: of two concurrent uses, exactly one wins; the other is a reuse.
        rotated = await self._db.execute(
            update(RefreshToken)
            .where(RefreshToken.id == record.id, RefreshToken.rotated_at.is_(None))
            .values(rotated_at=now)
        )
        if rotated.rowcount != 1:  # type: ignore[attr-defined]
            await self._revoke_families([record.family_id])
            await self._uow.commit()
            raise Unauthenticated(
                "The refresh token was already used; the session is revoked",
                code="refresh_token_reused",
            )
        user = await self._db.get(User, record.user_id)
        if user is None or user.status != UserStatus.ACTIVE:
            await self._revoke_families([record.family_id])
            await self._uow.commit()
            raise Unauthenticated("The account is not active", code="account_inactive")
        issued = self._start_session(user, user_agent=user_agent, family_id=record.family_id)
        await self._uow.commit()
        return issued

    async def logout(self, session_id: uuid.UUID) -> None:
        await self._revoke_families([session_id])
        await self._uow.commit()

    async def logout_by_refresh_token(self, refresh_token: str) -> None:
        family_id = await self._db.scalar(
            select(RefreshToken.family_id).where(
                RefreshToken.token_hash == token_digest(refresh_token)
            )
        )
        if family_id is not None:
            await self.logout(family_id)

    # --- password reset -----------------------------------------------------------------------

    async def request_password_reset(self, email: str, *, client_ip: str) -> None:
        """Answers the same way, after the same work, whether or not the address has an account:
        it only records the request (the address sealed). The reset-mail consumer looks the
        account up and issues the link (``issue_password_reset``), off the request's path, so
        neither the answer nor its timing tells which addresses have accounts."""
        email = _normalise_email(email)
        await self._limiter.check("password_reset", client_ip)
        await self._limiter.check("password_reset", f"email:{email}")
        self._uow.record(PasswordResetRequested(sealed_email=self._sealer.seal(email)))
        await self._uow.commit()

    async def confirm_password_reset(
        self, data: PasswordResetConfirmation, *, client_ip: str
    ) -> None:
        await self._limiter.check("password_reset_confirm", client_ip)
        now = utcnow()
        record = await self._db.scalar(
            select(PasswordResetToken).where(
                PasswordResetToken.token_hash == token_digest(data.token)
            )
        )
        if record is None or record.used_at is not None or record.expires_at <= now:
            raise InvalidInput(
                "The reset link is invalid or has expired",
                field="token",
                code="invalid_reset_token",
            )
        user = await self._db.get(User, record.user_id)
        if user is None or user.status != UserStatus.ACTIVE:
            raise InvalidInput(
                "The reset link is invalid or has expired",
                field="token",
                code="invalid_reset_token",
            )
        check_password_strength(data.new_password, username=user.username, email=user.email)
        consumed = await self._db.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.id == record.id, PasswordResetToken.used_at.is_(None))
            .values(used_at=now)
        )
        if consumed.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidInput(
                "The reset link is invalid or has expired",
                field="token",
                code="invalid_reset_token",
            )
        await self._set_password(user, data.new_password)
        await self._revoke_user_sessions(user.id)
        self._uow.record(PasswordChanged(user_id=user.id, via_reset=True))
        await self._uow.commit()

    # --- profile --------------------------------------------------------------------------------

    async def me(self, actor: Actor) -> User:
        user = await self._db.get(User, actor.user_id)
        if user is None or user.status != UserStatus.ACTIVE:
            raise Unauthenticated("The account is not active", code="account_inactive")
        return user

    async def display_name_of(self, user_id: uuid.UUID) -> str | None:
        """The name a live room shows for someone (who may have left it); None if no such user."""
        user = await self._db.get(User, user_id)
        return user.display_name if user is not None else None

    async def update_profile(self, actor: Actor, change: ProfileChange) -> User:
        user = await self.me(actor)
        await confirm_email_change(self._hasher, user, change.email, change.current_password)
        await self._ensure_unique(username=change.username, email=change.email, except_id=user.id)
        values = change.model_dump(
            exclude_unset=True, exclude_none=True, exclude={"current_password"}
        )
        changed = apply_changes(user, values)
        if changed:
            self._uow.record(UserUpdated(user_id=user.id, fields=changed, actor_id=actor.user_id))
            await self._uow.commit()
        return user

    async def change_password(self, actor: Actor, change: PasswordChange) -> None:
        user = await self.me(actor)
        ok = await self._hasher.verify(user.password_hash, change.current_password)
        if not ok:
            raise InvalidInput(
                "The current password is wrong", field="current_password", code="wrong_password"
            )
        check_password_strength(change.new_password, username=user.username, email=user.email)
        await self._set_password(user, change.new_password)
        # Other devices are signed out; this one keeps its session.
        await self._revoke_user_sessions(user.id, keep=actor.session_id)
        self._uow.record(PasswordChanged(user_id=user.id))
        await self._uow.commit()

    async def delete_account(self, actor: Actor) -> str | None:
        """Delete the caller's account; returns the avatar blob key to remove."""
        user = await self.me(actor)
        if (
            user.role == UserRole.ADMIN
            and user.status == UserStatus.ACTIVE
            and await count_active_admins(self._uow) <= 1
        ):
            raise Conflict(
                "The last administrator cannot delete their account: make someone else an "
                "administrator first",
                code="last_admin",
            )
        return await close_account(self._uow, self._revocations, user, actor_id=actor.user_id)

    # --- helpers ---------------------------------------------------------------------------------

    async def _hash(self, password: str) -> str:
        return await self._hasher.hash(password)

    async def _set_password(self, user: User, password: str) -> None:
        user.password_hash = await self._hash(password)
        user.password_changed_at = utcnow()
        # Reset links sent before this change must not be able to change the password again.
        await self._db.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
            .values(used_at=user.password_changed_at)
        )

    async def _ensure_unique(
        self, *, username: str | None, email: str | None, except_id: uuid.UUID | None = None
    ) -> None:
        await ensure_unique_identity(self._uow, username=username, email=email, except_id=except_id)

    def _start_session(
        self, user: User, *, user_agent: str | None, family_id: uuid.UUID | None = None
    ) -> IssuedSession:
        session_id = family_id or uuid.uuid4()
        refresh_token = new_opaque_token()
        refresh_expires = utcnow() + timedelta(seconds=self._refresh_ttl)
        self._db.add(
            RefreshToken(
                user_id=user.id,
                family_id=session_id,
                token_hash=token_digest(refresh_token),
                expires_at=refresh_expires,
                user_agent=(user_agent or "")[:255] or None,
            )
        )
        access_token, access_expires = self._tokens.issue_access(user.id, session_id, user.role)
        return IssuedSession(
            user=user,
            session_id=session_id,
            access_token=access_token,
            access_expires_at=access_expires,
            refresh_token=refresh_token,
            refresh_expires_at=refresh_expires,
        )

    async def _revoke_families(self, family_ids: list[uuid.UUID]) -> None:
        await revoke_families(self._uow, self._revocations, family_ids)

    async def _revoke_user_sessions(
        self, user_id: uuid.UUID, keep: uuid.UUID | None = None
    ) -> None:
        await revoke_user_sessions(self._uow, self._revocations, user_id, keep=keep)


async def add_user(
    uow: UnitOfWork, hasher: PasswordHasher, data: Registration, *, role: UserRole
) -> User:
    """A new active account (not committed yet): checks strength and uniqueness, records the
    registration."""
    check_password_strength(data.password, username=data.username, email=data.email)
    await ensure_unique_identity(uow, username=data.username, email=data.email)
    user = User(
        id=uuid.uuid4(),
        username=data.username,
        email=data.email,
        display_name=data.display_name or data.username,
        password_hash=await hasher.hash(data.password),
        role=role,
        status=UserStatus.ACTIVE,
    )
    uow.session.add(user)
    uow.record(UserRegistered(user_id=user.id, username=user.username))
    return user


async def confirm_email_change(
    hasher: PasswordHasher, user: User, email: str | None, current_password: str | None
) -> None:
    """One's own email changes only with one's password: the email receives reset links, and a
    stolen session must not be able to redirect them (``/users/me`` and an administrator's edit
    of their own account alike)."""
    if email is None or email == user.email:
        return
    if not current_password:
        raise InvalidInput(
            "Confirm your password to change your email",
            field="current_password",
            code="password_confirmation_required",
        )
    if not await hasher.verify(user.password_hash, current_password):
        raise InvalidInput(
            "The current password is wrong", field="current_password", code="wrong_password"
        )


def apply_changes(target: object, values: dict[str, object]) -> list[str]:
    """Set attributes that differ; returns the names of the fields that changed."""
    changed = []
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed.append(name)
    return changed


async def ensure_unique_identity(
    uow: UnitOfWork, *, username: str | None, email: str | None, except_id: uuid.UUID | None = None
) -> None:
    for column, value, code in (
        (User.username, username, "username_taken"),
        (User.email, email, "email_taken"),
    ):
        if value is None:
            continue
        query = select(User.id).where(column == value)
        if except_id is not None:
            query = query.where(User.id != except_id)
        if await uow.session.scalar(query) is not None:
            raise Conflict(f"That {column.key} is already taken", code=code)


async def revoke_families(
    uow: UnitOfWork, revocations: SessionRevocations, family_ids: list[uuid.UUID]
) -> None:
    if not family_ids:
        return
    await uow.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id.in_(family_ids), RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await revocations.revoke(family_ids)


async def revoke_user_sessions(
    uow: UnitOfWork,
    revocations: SessionRevocations,
    user_id: uuid.UUID,
    *,
    keep: uuid.UUID | None = None,
) -> None:
    query = (
        select(RefreshToken.family_id)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .distinct()
    )
    families = [family for family in (await uow.session.scalars(query)).all() if family != keep]
    await revoke_families(uow, revocations, families)


async def close_account(
    uow: UnitOfWork, revocations: SessionRevocations, user: User, *, actor_id: uuid.UUID
) -> str | None:
    """Soft-delete: sign out everywhere, free the username/email, keep history consistent.

    Meetings, chat and recordings keep their foreign keys; the person shows as a deleted user.
    Returns the avatar blob key for the caller to delete after commit.
    """
    await revoke_user_sessions(uow, revocations, user.id)
    avatar_key = user.avatar_key
    user.status = UserStatus.DELETED
    user.username = f"deleted-{user.id.hex[:24]}"
    user.email = f"deleted-{user.id.hex}@deleted.invalid"
    user.display_name = "Deleted user"
    user.password_hash = None
    user.avatar_key = None
    await cancel_hosted_meetings(uow, user.id)
    uow.record(UserDeleted(user_id=user.id, actor_id=actor_id))
    await uow.commit()
    return avatar_key


async def count_active_admins(uow: UnitOfWork) -> int:
    """Active administrators, with their rows locked until commit (PostgreSQL), so two admins
    demoting each other at the same moment cannot both see "another admin remains"."""
    admins = await uow.session.scalars(
        select(User.id)
        .where(User.role == UserRole.ADMIN, User.status == UserStatus.ACTIVE)
        .with_for_update()
    )
    return len(admins.all())


async def require_user(uow: UnitOfWork, user_id: uuid.UUID) -> User:
    user = await uow.session.get(User, user_id)
    if user is None or user.status == UserStatus.DELETED:
        raise NotFound("No such user", code="user_not_found")
    return user
