"""HTTP routes of the user function. Thin: parse, call one service method, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, File, Header, Query, Request, Response, UploadFile, status
from pydantic import BaseModel, EmailStr, Field

from meeting_functions.http.cookies import (
    clear_session_cookies,
    set_csrf_cookie,
    set_session_cookies,
)
from meeting_functions.http.deps import (
    REFRESH_COOKIE,
    AccountsDep,
    ActorDep,
    AdminDep,
    AvatarsDep,
    ClientIpDep,
    ContainerDep,
    OptionalActorDep,
    PageDep,
    UserAdminDep,
)
from meeting_functions.http.schemas import (
    Accepted,
    CsrfTokenResponse,
    PagePublic,
    TokenResponse,
    UserAdminView,
    UserPrivate,
)
from meeting_shared.bus.delivery import DeadLetterPublic, list_dead_letters, replay_dead_letter
from meeting_shared.enums import UserRole, UserStatus
from meeting_shared.errors import Unauthenticated
from meeting_shared.services.accounts import (
    Credentials,
    IssuedSession,
    PasswordChange,
    PasswordResetConfirmation,
    ProfileChange,
    Registration,
)
from meeting_shared.services.audit import AuditEntryPublic, list_audit
from meeting_shared.services.user_admin import BanRequest, UserAdminChange

auth = APIRouter(tags=["auth"])
users = APIRouter(tags=["users"])
admin = APIRouter(prefix="/admin", tags=["admin"])


class RefreshRequest(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=200)


class ResetRequest(BaseModel):
    email: EmailStr


class RoleRequest(BaseModel):
    role: UserRole


def _token_response(
    response: Response, issued: IssuedSession, container: ContainerDep
) -> TokenResponse:
    csrf = container.csrf.issue()
    set_session_cookies(response, issued, csrf, container.settings)
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=container.settings.access_token_ttl_seconds,
        refresh_token=issued.refresh_token,
        refresh_expires_in=container.settings.refresh_token_ttl_seconds,
        csrf_token=csrf,
        user=UserPrivate.of(issued.user),
    )


@auth.post("/auth/register", status_code=status.HTTP_201_CREATED, response_model=UserPrivate)
async def register(data: Registration, accounts: AccountsDep, ip: ClientIpDep) -> UserPrivate:
    return UserPrivate.of(await accounts.register(data, client_ip=ip))


@auth.post("/auth/login", response_model=TokenResponse)
async def login(
    credentials: Credentials,
    response: Response,
    accounts: AccountsDep,
    container: ContainerDep,
    ip: ClientIpDep,
    user_agent: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> TokenResponse:
    issued = await accounts.login(credentials, client_ip=ip, user_agent=user_agent)
    return _token_response(response, issued, container)


@auth.post("/auth/refresh", response_model=TokenResponse)
async def refresh(
    request: Request,
    response: Response,
    accounts: AccountsDep,
    container: ContainerDep,
    ip: ClientIpDep,
    body: Annotated[RefreshRequest | None, Body()] = None,
    user_agent: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> TokenResponse:
    """Rotate the refresh token from the JSON body, or from the HttpOnly cookie for browsers."""
    token = (body.refresh_token if body else None) or request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise Unauthenticated("No refresh token was sent", code="invalid_refresh_token")
    issued = await accounts.refresh(token, client_ip=ip, user_agent=user_agent)
    return _token_response(response, issued, container)


@auth.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    request: Request,
    response: Response,
    accounts: AccountsDep,
    container: ContainerDep,
    actor: OptionalActorDep,
    body: Annotated[RefreshRequest | None, Body()] = None,
) -> None:
    """End the session of the access token, or of the given refresh token; idempotent."""
    if actor is not None:
        await accounts.logout(actor.session_id)
    else:
        token = (body.refresh_token if body else None) or request.cookies.get(REFRESH_COOKIE)
        if token:
            await accounts.logout_by_refresh_token(token)
    clear_session_cookies(response, container.settings)


@auth.get("/csrf-token", response_model=CsrfTokenResponse)
async def csrf_token(response: Response, container: ContainerDep) -> CsrfTokenResponse:
    token = container.csrf.issue()
    set_csrf_cookie(response, token, container.settings)
    return CsrfTokenResponse(csrf_token=token)


@auth.post(
    "/auth/password-reset/request", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted
)
async def request_password_reset(
    data: ResetRequest, accounts: AccountsDep, ip: ClientIpDep
) -> Accepted:
    await accounts.request_password_reset(data.email, client_ip=ip)
    return Accepted(detail="If an account uses that email, a reset link is on its way")


@auth.post("/auth/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def confirm_password_reset(
    data: PasswordResetConfirmation, accounts: AccountsDep, ip: ClientIpDep
) -> None:
    await accounts.confirm_password_reset(data, client_ip=ip)


# --- the caller's own account -------------------------------------------------------------------


@users.get("/users/me", response_model=UserPrivate)
async def me(actor: ActorDep, accounts: AccountsDep) -> UserPrivate:
    return UserPrivate.of(await accounts.me(actor))


@users.patch("/users/me", response_model=UserPrivate)
async def update_me(change: ProfileChange, actor: ActorDep, accounts: AccountsDep) -> UserPrivate:
    return UserPrivate.of(await accounts.update_profile(actor, change))


@users.delete("/users/me", status_code=status.HTTP_204_NO_CONTENT)
async def delete_me(
    actor: ActorDep, accounts: AccountsDep, container: ContainerDep, response: Response
) -> None:
    avatar_key = await accounts.delete_account(actor)
    if avatar_key:
        await container.blobs.delete(avatar_key)
    clear_session_cookies(response, container.settings)


@users.post("/users/me/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(change: PasswordChange, actor: ActorDep, accounts: AccountsDep) -> None:
    await accounts.change_password(actor, change)


@users.put("/users/me/avatar", response_model=UserPrivate)
async def set_avatar(
    file: Annotated[UploadFile, File(description="A JPEG, PNG, WebP or GIF image")],
    actor: ActorDep,
    avatars: AvatarsDep,
    container: ContainerDep,
) -> UserPrivate:
    data = await file.read(container.settings.avatar_max_bytes + 1)
    return UserPrivate.of(await avatars.set_avatar(actor, data))


@users.get(
    "/users/{user_id}/avatar",
    response_class=Response,
    responses={200: {"content": {"image/webp": {}}}},
)
async def get_avatar(user_id: uuid.UUID, _actor: ActorDep, avatars: AvatarsDep) -> Response:
    data = await avatars.avatar(user_id)
    return Response(
        data, media_type="image/webp", headers={"Cache-Control": "private, max-age=86400"}
    )


# --- administration ------------------------------------------------------------------------


@admin.get("/users", response_model=PagePublic[UserAdminView])
async def list_users(
    _admin: AdminDep,
    service: UserAdminDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    user_status: Annotated[UserStatus | None, Query(alias="status")] = None,
    role: UserRole | None = None,
) -> PagePublic[UserAdminView]:
    result = await service.list_users(page, q=q, status=user_status, role=role)
    return PagePublic[UserAdminView].build(result, UserAdminView.of)


@admin.get("/users/{user_id}", response_model=UserAdminView)
async def get_user(user_id: uuid.UUID, _admin: AdminDep, service: UserAdminDep) -> UserAdminView:
    return UserAdminView.of(await service.get_user(user_id))


@admin.patch("/users/{user_id}", response_model=UserAdminView)
async def update_user(
    user_id: uuid.UUID, change: UserAdminChange, admin_actor: AdminDep, service: UserAdminDep
) -> UserAdminView:
    return UserAdminView.of(await service.update_user(admin_actor, user_id, change))


@admin.put("/users/{user_id}/role", response_model=UserAdminView)
async def set_role(
    user_id: uuid.UUID, data: RoleRequest, admin_actor: AdminDep, service: UserAdminDep
) -> UserAdminView:
    return UserAdminView.of(
        await service.update_user(admin_actor, user_id, UserAdminChange(role=data.role))
    )


@admin.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(
    user_id: uuid.UUID, admin_actor: AdminDep, service: UserAdminDep, container: ContainerDep
) -> None:
    avatar_key = await service.delete_user(admin_actor, user_id)
    if avatar_key:
        await container.blobs.delete(avatar_key)


@admin.post("/users/{user_id}/ban", response_model=UserAdminView)
async def ban_user(
    user_id: uuid.UUID,
    admin_actor: AdminDep,
    service: UserAdminDep,
    data: Annotated[BanRequest | None, Body()] = None,
) -> UserAdminView:
    return UserAdminView.of(await service.ban(admin_actor, user_id, data or BanRequest()))


@admin.post("/users/{user_id}/unban", response_model=UserAdminView)
async def unban_user(
    user_id: uuid.UUID, admin_actor: AdminDep, service: UserAdminDep
) -> UserAdminView:
    return UserAdminView.of(await service.unban(admin_actor, user_id))


# --- events: the audit log and dead letters ---------------------------------------------------


@admin.get("/audit", response_model=PagePublic[AuditEntryPublic])
async def audit_log(
    _admin: AdminDep,
    container: ContainerDep,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=64, description="Action prefix")] = None,
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: uuid.UUID | None = None,
) -> PagePublic[AuditEntryPublic]:
    """Every event, newest first (filled by the audit consumer, so it trails by moments)."""
    result = await list_audit(
        container.db, page, action=action, subject_id=subject_id, actor_id=actor_id
    )
    return PagePublic[AuditEntryPublic].build(result, lambda entry: entry)


@admin.get("/dead-letters", response_model=PagePublic[DeadLetterPublic])
async def dead_letters(
    _admin: AdminDep, container: ContainerDep, page: PageDep, pending: bool = False
) -> PagePublic[DeadLetterPublic]:
    """Events a consumer gave up on after its retries (``pending``: not replayed yet)."""
    result = await list_dead_letters(container.db, page, pending_only=pending)
    return PagePublic[DeadLetterPublic].build(result, lambda letter: letter)


@admin.post("/dead-letters/{dead_letter_id}/replay", response_model=DeadLetterPublic)
async def replay(
    dead_letter_id: uuid.UUID, _admin: AdminDep, container: ContainerDep
) -> DeadLetterPublic:
    """Publish the event again once its consumer is fixed; consumers that handled it already
    skip it."""
    return await replay_dead_letter(container.db, container.bus, dead_letter_id)


ROUTERS = (auth, users, admin)
