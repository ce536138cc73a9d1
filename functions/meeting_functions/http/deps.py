"""FastAPI dependencies: the container, a unit of work per request, the caller, and services.

Every provider is ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread
pool, and those hops cost more than the work they do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.params import Form
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from meeting_shared.container import Container
from meeting_shared.db.models import User
from meeting_shared.db.pagination import MAX_PAGE_SIZE, PageRequest
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import UserRole, UserStatus
from meeting_shared.errors import Forbidden, Unauthenticated
from meeting_shared.services.accounts import AccountService
from meeting_shared.services.actors import Actor
from meeting_shared.services.attendance import AttendanceService
from meeting_shared.services.avatars import AvatarService
from meeting_shared.services.chat import ChatService
from meeting_shared.services.factory import Services
from meeting_shared.services.media import MediaService
from meeting_shared.services.meetings import MeetingService
from meeting_shared.services.recordings import RecordingService
from meeting_shared.services.transcripts import TranscriptService
from meeting_shared.services.user_admin import UserAdminService
from meeting_shared.text import refuse_unstorable_text

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def refuse_unstorable_text_input(connection: HTTPConnection) -> None:
    """Every route's first dependency: text the database could not store (NUL, unpaired
    surrogates) anywhere in the path, the query, a JSON body or form fields is a 422
    ``invalid_character`` naming the field, before any other work (signing in included)."""
    refuse_unstorable_text(connection.path_params, "path")
    for name, value in connection.query_params.multi_items():
        refuse_unstorable_text({name: value}, "query")
    route = connection.scope.get("route")
    if not isinstance(connection, Request) or not isinstance(route, APIRoute):
        return
    if route.body_field is None:  # the route reads its body itself, or has none
        return
    # FastAPI has read and parsed the body before dependencies run: these return its cache.
    if isinstance(route.body_field.field_info, Form):
        form = await connection.form()
        for name, field in form.multi_items():
            refuse_unstorable_text({name: field if isinstance(field, str) else field.filename})
        return
    try:
        body = await connection.json()
    except ValueError:  # not JSON: FastAPI's own validation answers for it
        return
    refuse_unstorable_text(body)


READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


async def get_uow(request: Request, container: ContainerDep) -> AsyncIterator[UnitOfWork]:
    """One session per request; GET and HEAD handlers only read, so they skip the transaction."""
    read_only = request.method in READ_ONLY_METHODS
    db = container.db
    async with db.read_session() if read_only else db.session() as session:
        yield container.unit_of_work(session)


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


@contextlib.asynccontextmanager
async def read_unit_of_work(container: Container) -> AsyncIterator[UnitOfWork]:
    """A read-only unit of work opened on demand, for routes that usually answer from a cache
    (a ``UowDep`` would open a session on every request, hit or miss)."""
    async with container.db.read_session() as session:
        yield container.unit_of_work(session)


_bearer = HTTPBearer(auto_error=False, description="Access token from login or refresh")


async def current_actor(
    request: Request,
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller from a Bearer token or the access cookie (CSRF is checked by middleware)."""
    token = credentials.credentials if credentials else request.cookies.get(ACCESS_COOKIE)
    if not token:
        raise Unauthenticated("Sign in first", code="unauthenticated")
    claims = container.tokens.read_access(token)
    if await container.revocations.is_revoked(claims.session_id):
        raise Unauthenticated("The session has ended; sign in again", code="session_revoked")
    return Actor(user_id=claims.user_id, role=claims.role, session_id=claims.session_id)


ActorDep = Annotated[Actor, Depends(current_actor)]


async def optional_actor(
    request: Request,
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor | None:
    try:
        return await current_actor(request, container, credentials)
    except Unauthenticated:
        return None


OptionalActorDep = Annotated[Actor | None, Depends(optional_actor)]


async def current_admin(actor: ActorDep, uow: UowDep) -> Actor:
    """Admin endpoints re-check the role in the database, not only the token's claim."""
    user = await uow.session.get(User, actor.user_id)
    if user is None or user.role != UserRole.ADMIN or user.status != UserStatus.ACTIVE:
        raise Forbidden("Administrators only", code="admin_only")
    return Actor(user_id=actor.user_id, role=UserRole.ADMIN, session_id=actor.session_id)


AdminDep = Annotated[Actor, Depends(current_admin)]


async def page_request(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> PageRequest:
    return PageRequest(page=page, page_size=page_size)


PageDep = Annotated[PageRequest, Depends(page_request)]


async def client_ip(request: Request, container: ContainerDep) -> str:
    if container.settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


ClientIpDep = Annotated[str, Depends(client_ip)]


async def services(uow: UowDep, container: ContainerDep) -> Services:
    return container.services(uow)


ServicesDep = Annotated[Services, Depends(services)]


async def account_service(services: ServicesDep) -> AccountService:
    return services.accounts


async def user_admin_service(services: ServicesDep) -> UserAdminService:
    return services.user_admin


async def avatar_service(services: ServicesDep) -> AvatarService:
    return services.avatars


async def meeting_service(services: ServicesDep) -> MeetingService:
    return services.meetings


async def attendance_service(services: ServicesDep) -> AttendanceService:
    return services.attendance


async def chat_service(services: ServicesDep) -> ChatService:
    return services.chat


async def media_service(services: ServicesDep) -> MediaService:
    return services.media


async def recording_service(services: ServicesDep) -> RecordingService:
    return services.recordings


async def transcript_service(services: ServicesDep) -> TranscriptService:
    return services.transcripts


AccountsDep = Annotated[AccountService, Depends(account_service)]
UserAdminDep = Annotated[UserAdminService, Depends(user_admin_service)]
AvatarsDep = Annotated[AvatarService, Depends(avatar_service)]
MeetingsDep = Annotated[MeetingService, Depends(meeting_service)]
AttendanceDep = Annotated[AttendanceService, Depends(attendance_service)]
ChatDep = Annotated[ChatService, Depends(chat_service)]
MediaDep = Annotated[MediaService, Depends(media_service)]
RecordingsDep = Annotated[RecordingService, Depends(recording_service)]
TranscriptsDep = Annotated[TranscriptService, Depends(transcript_service)]
