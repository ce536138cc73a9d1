"""HTTP routes of the meeting function."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse

from meeting_functions.http.deps import (
    ActorDep,
    AdminDep,
    AttendanceDep,
    ChatDep,
    ContainerDep,
    MeetingsDep,
    PageDep,
    RecordingsDep,
    TranscriptsDep,
    UowDep,
    read_unit_of_work,
)
from meeting_functions.http.schemas import (
    ChatHistory,
    ChatMessagePublic,
    InvitePublic,
    JoinResponse,
    LobbyEntryPublic,
    MeetingPublic,
    PagePublic,
    ParticipantPublic,
    RecordingPublic,
    WaitingResponse,
)
from meeting_shared.clock import UtcDatetime
from meeting_shared.container import Container
from meeting_shared.db.pagination import Page
from meeting_shared.enums import MeetingStatus
from meeting_shared.errors import NotFound
from meeting_shared.services.actors import Actor
from meeting_shared.services.attendance import Admission, InviteRequest, JoinRequest, RoleChange
from meeting_shared.services.chat import NewMessage
from meeting_shared.services.meetings import (
    MeetingChange,
    MeetingDraft,
    MeetingService,
    MeetingView,
)
from meeting_shared.services.nodes import NodeStatus
from meeting_shared.services.rooms import RoomStats, RoomStatus, room_stats, room_status
from meeting_shared.services.transcripts import (
    Transcript,
    as_text,
    as_webvtt,
)

meetings = APIRouter(tags=["meetings"])
admin = APIRouter(prefix="/admin", tags=["admin"])


def _public(view: MeetingView) -> MeetingPublic:
    return MeetingPublic.of(view.meeting, view.my_role)


ListLoader = Callable[[MeetingService], Awaitable[Page[MeetingView]]]


async def _cached_list(
    actor: Actor, container: Container, variant: str, load: ListLoader
) -> Response:
    """A list page from the caller's meeting-list cache, computed and cached on a miss."""
    cache = container.meeting_lists
    generation, body = await cache.read(actor.user_id, variant)
    if body is None:
        async with read_unit_of_work(container) as uow:
            page = await load(container.services(uow).meetings)
        body = PagePublic[MeetingPublic].build(page, _public).model_dump_json()
        await cache.write(actor.user_id, generation, variant, body)
    return Response(body, media_type="application/json")


@meetings.post("/meetings", status_code=status.HTTP_201_CREATED, response_model=MeetingPublic)
async def create_meeting(
    draft: MeetingDraft, actor: ActorDep, service: MeetingsDep
) -> MeetingPublic:
    return _public(await service.create(actor, draft))


@meetings.get("/meetings", response_model=PagePublic[MeetingPublic])
async def list_meetings(
    actor: ActorDep,
    container: ContainerDep,
    page: PageDep,
    meeting_status: Annotated[MeetingStatus | None, Query(alias="status")] = None,
) -> Response:
    """Meetings the caller hosts, was invited to or took part in, newest first."""
    variant = f"all:{meeting_status}:{page.page}:{page.page_size}"
    return await _cached_list(
        actor, container, variant, lambda s: s.list_mine(actor, page, status=meeting_status)
    )


@meetings.get("/my/meetings/upcoming", response_model=PagePublic[MeetingPublic])
async def upcoming_meetings(actor: ActorDep, container: ContainerDep, page: PageDep) -> Response:
    variant = f"upcoming:{page.page}:{page.page_size}"
    return await _cached_list(actor, container, variant, lambda s: s.upcoming(actor, page))


@meetings.get("/my/meetings/history", response_model=PagePublic[MeetingPublic])
async def meeting_history(actor: ActorDep, container: ContainerDep, page: PageDep) -> Response:
    variant = f"history:{page.page}:{page.page_size}"
    return await _cached_list(actor, container, variant, lambda s: s.history(actor, page))


@meetings.get("/meetings/{meeting_id}", response_model=MeetingPublic)
async def get_meeting(
    meeting_id: uuid.UUID, actor: ActorDep, service: MeetingsDep
) -> MeetingPublic:
    return _public(await service.get(actor, meeting_id))


@meetings.patch("/meetings/{meeting_id}", response_model=MeetingPublic)
async def update_meeting(
    meeting_id: uuid.UUID, change: MeetingChange, actor: ActorDep, service: MeetingsDep
) -> MeetingPublic:
    return _public(await service.update(actor, meeting_id, change))


@meetings.delete("/meetings/{meeting_id}", status_code=status.HTTP_204_NO_CONTENT)
async def cancel_meeting(meeting_id: uuid.UUID, actor: ActorDep, service: MeetingsDep) -> None:
    """Cancel a meeting that is not live (the host only)."""
    await service.cancel(actor, meeting_id)


@meetings.post(
    "/meetings/{meeting_id}/join",
    response_model=JoinResponse | WaitingResponse,
    responses={202: {"model": WaitingResponse, "description": "Waiting in the lobby"}},
)
async def join_meeting(
    meeting_id: uuid.UUID,
    actor: ActorDep,
    service: AttendanceDep,
    container: ContainerDep,
    response: Response,
    request: JoinRequest | None = None,
) -> JoinResponse | WaitingResponse:
    """Join (or ask to join) a meeting; answers 202 while waiting in the lobby."""
    outcome = await service.join(actor, meeting_id, request or JoinRequest())
    if not isinstance(outcome, Admission):
        response.status_code = status.HTTP_202_ACCEPTED
        return WaitingResponse(
            meeting_id=outcome.meeting.id,
            meeting_title=outcome.meeting.title,
            host_display_name=outcome.host.display_name if outcome.host else None,
            requested_at=outcome.entry.requested_at,
        )
    return JoinResponse(
        meeting=MeetingPublic.of(outcome.meeting, outcome.participant.role),
        participant=ParticipantPublic.of(outcome.participant, outcome.user),
        participant_id=outcome.participant.id,
        role=outcome.participant.role,
        node_id=outcome.node.id,
        signaling_url=outcome.node.signaling_url,
        join_token=outcome.join_token,
        join_token_expires_at=outcome.join_token_expires_at,
        ice_servers=container.settings.ice_servers,
    )


@meetings.post("/meetings/{meeting_id}/leave", status_code=status.HTTP_204_NO_CONTENT)
async def leave_meeting(meeting_id: uuid.UUID, actor: ActorDep, service: AttendanceDep) -> None:
    await service.leave(actor, meeting_id)


@meetings.post("/meetings/{meeting_id}/start", response_model=MeetingPublic)
async def start_meeting(
    meeting_id: uuid.UUID, actor: ActorDep, service: MeetingsDep
) -> MeetingPublic:
    return _public(await service.start(actor, meeting_id))


@meetings.post("/meetings/{meeting_id}/end", response_model=MeetingPublic)
async def end_meeting(
    meeting_id: uuid.UUID, actor: ActorDep, service: MeetingsDep
) -> MeetingPublic:
    return _public(await service.end(actor, meeting_id))


@meetings.get("/meetings/{meeting_id}/participants", response_model=list[ParticipantPublic])
async def list_participants(
    meeting_id: uuid.UUID, actor: ActorDep, service: AttendanceDep
) -> list[ParticipantPublic]:
    return [ParticipantPublic.of(p, u) for p, u in await service.participants(actor, meeting_id)]


@meetings.patch("/meetings/{meeting_id}/participants/{user_id}", response_model=ParticipantPublic)
async def change_participant_role(
    meeting_id: uuid.UUID,
    user_id: uuid.UUID,
    change: RoleChange,
    actor: ActorDep,
    service: AttendanceDep,
) -> ParticipantPublic:
    await service.change_role(actor, meeting_id, user_id, change)
    rows = await service.participants(actor, meeting_id)
    return next(ParticipantPublic.of(p, u) for p, u in rows if u.id == user_id)


@meetings.delete(
    "/meetings/{meeting_id}/participants/{user_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def remove_participant(
    meeting_id: uuid.UUID, user_id: uuid.UUID, actor: ActorDep, service: AttendanceDep
) -> None:
    await service.remove(actor, meeting_id, user_id)


@meetings.get("/meetings/{meeting_id}/lobby", response_model=list[LobbyEntryPublic])
async def list_lobby(
    meeting_id: uuid.UUID, actor: ActorDep, service: AttendanceDep
) -> list[LobbyEntryPublic]:
    return [
        LobbyEntryPublic.of(entry, user) for entry, user in await service.lobby(actor, meeting_id)
    ]


@meetings.post(
    "/meetings/{meeting_id}/lobby/{user_id}/admit", status_code=status.HTTP_204_NO_CONTENT
)
async def admit(
    meeting_id: uuid.UUID, user_id: uuid.UUID, actor: ActorDep, service: AttendanceDep
) -> None:
    await service.decide(actor, meeting_id, user_id, admit=True)


@meetings.post(
    "/meetings/{meeting_id}/lobby/{user_id}/deny", status_code=status.HTTP_204_NO_CONTENT
)
async def deny(
    meeting_id: uuid.UUID, user_id: uuid.UUID, actor: ActorDep, service: AttendanceDep
) -> None:
    await service.decide(actor, meeting_id, user_id, admit=False)


@meetings.post(
    "/meetings/{meeting_id}/invites",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitePublic,
)
async def create_invite(
    meeting_id: uuid.UUID,
    actor: ActorDep,
    service: AttendanceDep,
    container: ContainerDep,
    request: InviteRequest | None = None,
) -> InvitePublic:
    """Invite a user directly, or (with no user) create a shareable invite link."""
    created = await service.invite(actor, meeting_id, request or InviteRequest())
    return InvitePublic.of(created.invite, created.token, container.settings.public_url)


@meetings.get("/meetings/{meeting_id}/messages", response_model=ChatHistory)
async def chat_history(
    meeting_id: uuid.UUID,
    actor: ActorDep,
    service: ChatDep,
    before: UtcDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ChatHistory:
    page = await service.history(actor, meeting_id, before=before, limit=limit)
    return ChatHistory(
        items=[ChatMessagePublic.of(m, u) for m, u in page.items], next_before=page.next_before
    )


@meetings.post(
    "/meetings/{meeting_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=ChatMessagePublic,
)
async def post_message(
    meeting_id: uuid.UUID, message: NewMessage, actor: ActorDep, service: ChatDep
) -> ChatMessagePublic:
    return ChatMessagePublic.of(*await service.post(actor, meeting_id, message))


@meetings.get(
    "/meetings/{meeting_id}/transcript",
    response_model=Transcript,
    responses={
        200: {"content": {"text/plain": {}, "text/vtt": {}}, "description": "The caption lines"}
    },
)
async def transcript(
    meeting_id: uuid.UUID,
    actor: ActorDep,
    service: TranscriptsDep,
    format: Annotated[Literal["json", "text", "vtt"], Query()] = "json",
    q: Annotated[str, Query(max_length=200, description="Words every line must contain")] = "",
) -> Response:
    """What was said, from the live captions: JSON, plain text or WebVTT; searchable."""
    found = await service.read(actor, meeting_id, q)
    if format == "text":
        return PlainTextResponse(as_text(found))
    if format == "vtt":
        return PlainTextResponse(as_webvtt(found), media_type="text/vtt")
    return JSONResponse(found.model_dump(mode="json"))


@meetings.get("/meetings/{meeting_id}/recordings", response_model=list[RecordingPublic])
async def list_recordings(
    meeting_id: uuid.UUID, actor: ActorDep, service: RecordingsDep
) -> list[RecordingPublic]:
    """The meeting's recordings, newest first (members)."""
    return [RecordingPublic.of(r) for r in await service.list(actor, meeting_id)]


@meetings.post(
    "/meetings/{meeting_id}/recordings",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordingPublic,
)
async def start_recording(
    meeting_id: uuid.UUID, actor: ActorDep, service: RecordingsDep
) -> RecordingPublic:
    """Start recording the live meeting (host, co-host; the meeting's `recording` setting on)."""
    return RecordingPublic.of(await service.start(actor, meeting_id))


@meetings.post(
    "/meetings/{meeting_id}/recordings/{recording_id}/stop", response_model=RecordingPublic
)
async def stop_recording(
    meeting_id: uuid.UUID, recording_id: uuid.UUID, actor: ActorDep, service: RecordingsDep
) -> RecordingPublic:
    """Stop it: the files are stored and mixed (status `processing`, then `ready`)."""
    return RecordingPublic.of(await service.stop(actor, meeting_id, recording_id))


@meetings.get(
    "/meetings/{meeting_id}/recordings/{recording_id}/download",
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    response_class=RedirectResponse,
)
async def download_recording(
    meeting_id: uuid.UUID,
    recording_id: uuid.UUID,
    actor: ActorDep,
    service: RecordingsDep,
    track: Annotated[str | None, Query(max_length=64, description="One track's file")] = None,
    captions: Annotated[bool, Query(description="The captions as WebVTT")] = False,
) -> RedirectResponse:
    """Redirects to a short-lived URL of the mixed MP4, one track (Matroska) or the captions."""
    url = await service.file_url(actor, meeting_id, recording_id, track_id=track, captions=captions)
    return RedirectResponse(url, status_code=307)


@meetings.get(
    "/meetings/{meeting_id}/recordings/{recording_id}/thumbnail",
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    response_class=RedirectResponse,
)
async def recording_thumbnail(
    meeting_id: uuid.UUID, recording_id: uuid.UUID, actor: ActorDep, service: RecordingsDep
) -> RedirectResponse:
    url = await service.file_url(actor, meeting_id, recording_id, thumbnail=True)
    return RedirectResponse(url, status_code=307)


@meetings.delete(
    "/meetings/{meeting_id}/recordings/{recording_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_recording(
    meeting_id: uuid.UUID, recording_id: uuid.UUID, actor: ActorDep, service: RecordingsDep
) -> None:
    """Delete a recording and its files (the host, or an administrator)."""
    await service.delete(actor, meeting_id, recording_id)


@meetings.get("/meetings/{meeting_id}/room", response_model=RoomStatus)
async def room(
    meeting_id: uuid.UUID, actor: ActorDep, uow: UowDep, container: ContainerDep
) -> RoomStatus:
    """The meeting's live room: its media node and who is connected, with mute state and
    published tracks. Members and administrators."""
    return await room_status(uow, container.state, actor, meeting_id, container.nodes)


@meetings.get(
    "/meetings/{meeting_id}/room/stats",
    response_model=RoomStats,
    responses={404: {"description": "No such meeting, or its room is not live"}},
)
async def room_forwarding_stats(
    meeting_id: uuid.UUID, actor: ActorDep, uow: UowDep, container: ContainerDep
) -> RoomStats:
    """Per-track forwarding of the live room (subscribers, loss, jitter, bitrate), as its media
    node reported it at its last heartbeat. Members and administrators."""
    stats = await room_stats(uow, container.state, actor, meeting_id)
    if stats is None:
        raise NotFound("The meeting's room is not live", code="room_not_live")
    return stats


@admin.get("/meetings", response_model=PagePublic[MeetingPublic])
async def admin_list_meetings(
    _admin: AdminDep,
    service: MeetingsDep,
    page: PageDep,
    meeting_status: Annotated[MeetingStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> PagePublic[MeetingPublic]:
    result = await service.admin_list(page, status=meeting_status, q=q)
    return PagePublic[MeetingPublic].build(result, MeetingPublic.of)


@admin.get("/nodes", response_model=list[NodeStatus])
async def admin_nodes(_admin: AdminDep, container: ContainerDep) -> list[NodeStatus]:
    """Media nodes that beat in the last 15 s, with their load (connected participants) and
    forwarding stats (streams, packets/s, bitrate, CPU)."""
    return sorted(await container.nodes.live(), key=lambda status: status.id)


@admin.post("/meetings/{meeting_id}/end", response_model=MeetingPublic)
async def admin_end_meeting(
    meeting_id: uuid.UUID, admin_actor: AdminDep, service: MeetingsDep
) -> MeetingPublic:
    return MeetingPublic.of(await service.admin_end(admin_actor, meeting_id))


ROUTERS = (meetings, admin)
