"""The signaling protocol, version 1: every frame is a JSON object with a ``type``.

These models are the protocol's single source: the server validates with them and
``docs/signaling.schema.json`` is generated from them (``python -m meeting_sfu.schema``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from meeting_shared.enums import TrackSource
from meeting_shared.services.rooms import ParticipantInfo, TrackInfo
from meeting_shared.services.transcripts import LineEmotion

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024
# Frames a client may send: bursts of FRAME_BURST, FRAME_RATE a second on average. Past that a
# frame is refused (one ``rate_limited`` error per run of refusals); past another burst of
# refusals the connection is closed (``CloseCode.TOO_MANY_FRAMES``).
FRAME_RATE = 20.0
FRAME_BURST = 100

Sdp = Annotated[str, StringConstraints(min_length=10, max_length=60_000)]
Mid = Annotated[str, StringConstraints(min_length=1, max_length=32)]

Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


def wire_name(model: type[BaseModel]) -> str:
    """A model's name in the protocol's schema: its class name less the ``Frame`` suffix, which
    keeps frames apart from the events and models of the same name (``MeetingEnded``)."""
    return model.__name__.removesuffix("Frame")


class WireModel(BaseModel):
    # What goes on the wire: frames and the parts they carry (a docstring here would become
    # every frame's schema description).

    model_config = ConfigDict(model_title_generator=wire_name)


class ClientFrameModel(WireModel):
    # What a client sends: nothing beyond the declared fields.

    model_config = ConfigDict(extra="forbid")


# --- client to server ------------------------------------------------------------------------


class JoinFrame(ClientFrameModel):
    """The first frame: the join token from ``POST /api/v1/meetings/{id}/join``."""

    type: Literal["join"]
    v: int = Field(default=PROTOCOL_VERSION, description="Protocol version the client speaks")
    token: str = Field(min_length=10, max_length=4096)


class PingFrame(ClientFrameModel):
    type: Literal["ping"]
    id: str | None = Field(default=None, max_length=64)


class SendChatFrame(ClientFrameModel):
    type: Literal["chat"]
    body: Body


class SetMuteFrame(ClientFrameModel):
    """The sender's own microphone/camera state (what others should show)."""

    type: Literal["mute"]
    audio: bool | None = None
    video: bool | None = None


class RaiseHandFrame(ClientFrameModel):
    type: Literal["raise_hand"]
    raised: bool


class MuteParticipantFrame(ClientFrameModel):
    """Host or co-host: ask someone's client to mute their microphone."""

    type: Literal["mute_participant"]
    user_id: uuid.UUID


class RemoveParticipantFrame(ClientFrameModel):
    type: Literal["remove_participant"]
    user_id: uuid.UUID


class ChangeRoleFrame(ClientFrameModel):
    type: Literal["change_role"]
    user_id: uuid.UUID
    role: Literal["host", "co_host", "presenter", "participant"]


class AdmitFromLobbyFrame(ClientFrameModel):
    type: Literal["admit"]
    user_id: uuid.UUID


class DenyFromLobbyFrame(ClientFrameModel):
    type: Literal["deny"]
    user_id: uuid.UUID


class EndMeetingFrame(ClientFrameModel):
    type: Literal["end_meeting"]


class OutgoingTrack(ClientFrameModel):
    mid: Mid
    source: TrackSource


class PublishOfferFrame(ClientFrameModel):
    """The client's offer for its publishing connection (client to SFU media). Send a new one
    whenever tracks are added or removed; ``tracks`` says what each sending m-line is."""

    type: Literal["publish_offer"]
    sdp: Sdp
    tracks: list[OutgoingTrack] = Field(max_length=16)


class SubscribeAnswerFrame(ClientFrameModel):
    """The client's answer to the SFU's ``subscribe_offer``."""

    type: Literal["subscribe_answer"]
    sdp: Sdp


class IceCandidateFrame(ClientFrameModel):
    """A trickled ICE candidate for one of the two connections (null candidate: no more)."""

    type: Literal["candidate"]
    pc: Literal["publish", "subscribe"]
    candidate: str | None = Field(default=None, max_length=1024)
    sdp_mid: Mid | None = None
    sdp_mline_index: int | None = Field(default=None, ge=0, le=1024)


class SetEmotionCuesFrame(ClientFrameModel):
    """Whether this participant's face may be read for emotion cues (default: yes, when the
    meeting has AI on); turning it off stops the analysis, not only the display."""

    type: Literal["set_emotion_cues"]
    enabled: bool


class AnnounceFrame(ClientFrameModel):
    """A host's or co-host's announcement, spoken into the room by the speech synthesizer."""

    type: Literal["announce"]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class StartRecordingFrame(ClientFrameModel):
    """Hosts and co-hosts: record the meeting (its `recording` setting must be on)."""

    type: Literal["start_recording"]


class StopRecordingFrame(ClientFrameModel):
    type: Literal["stop_recording"]


ClientFrame = Annotated[
    PingFrame
    | SendChatFrame
    | SetMuteFrame
    | RaiseHandFrame
    | MuteParticipantFrame
    | RemoveParticipantFrame
    | ChangeRoleFrame
    | AdmitFromLobbyFrame
    | DenyFromLobbyFrame
    | EndMeetingFrame
    | PublishOfferFrame
    | SubscribeAnswerFrame
    | IceCandidateFrame
    | SetEmotionCuesFrame
    | AnnounceFrame
    | StartRecordingFrame
    | StopRecordingFrame,
    Field(discriminator="type"),
]
CLIENT_FRAME = TypeAdapter(ClientFrame)
JOIN_FRAME = TypeAdapter(JoinFrame)


# --- server to client ------------------------------------------------------------------------


class MeetingInfo(WireModel):
    id: uuid.UUID
    title: str
    settings: dict[str, Any]


class RecordingStateFrame(WireModel):
    """Whether the meeting is being recorded (everyone in the room sees it)."""

    type: Literal["recording"] = "recording"
    active: bool
    recording_id: uuid.UUID | None = None
    started_by: uuid.UUID | None = None
    started_at: datetime | None = None


class RecordingFailedFrame(WireModel):
    """To hosts and co-hosts: a recording could not be made or stored; `reason` says why."""

    type: Literal["recording_failed"] = "recording_failed"
    recording_id: uuid.UUID
    reason: str


class JoinedFrame(WireModel):
    """The room snapshot, sent once after a successful ``join``."""

    type: Literal["joined"] = "joined"
    v: int = PROTOCOL_VERSION
    me: ParticipantInfo
    participants: list[ParticipantInfo] = Field(description="Everyone else in the room")
    meeting: MeetingInfo
    ice_servers: list[dict[str, Any]]
    recording: RecordingStateFrame = Field(
        default_factory=lambda: RecordingStateFrame(active=False)
    )


class ParticipantJoinedFrame(WireModel):
    type: Literal["participant_joined"] = "participant_joined"
    participant: ParticipantInfo


class ParticipantUpdatedFrame(WireModel):
    """Mute state, raised hand or role changed."""

    type: Literal["participant_updated"] = "participant_updated"
    participant: ParticipantInfo


class ParticipantLeftFrame(WireModel):
    type: Literal["participant_left"] = "participant_left"
    user_id: uuid.UUID
    reason: Literal["left", "removed", "disconnected"]


class ChatSender(WireModel):
    user_id: uuid.UUID
    display_name: str


class ChatMessageFrame(WireModel):
    type: Literal["chat"] = "chat"
    id: uuid.UUID
    sender: ChatSender
    body: str
    created_at: datetime


class MutedByHostFrame(WireModel):
    """To the muted participant: turn the microphone off (their client does it)."""

    type: Literal["muted_by_host"] = "muted_by_host"
    by: uuid.UUID


class RemovedFrame(WireModel):
    """To a removed participant, just before the node closes the socket. ``reason`` says why:
    a host removed them, or an administrator banned or deleted their account."""

    type: Literal["removed"] = "removed"
    by: uuid.UUID
    reason: Literal["removed", "banned", "deleted"] = "removed"


class MeetingEndedFrame(WireModel):
    type: Literal["meeting_ended"] = "meeting_ended"
    by: uuid.UUID


class PongFrame(WireModel):
    type: Literal["pong"] = "pong"
    id: str | None = None


class PublishAnswerFrame(WireModel):
    """The SFU's answer to ``publish_offer``; its candidates are in the SDP (no trickle)."""

    type: Literal["publish_answer"] = "publish_answer"
    sdp: str


class IncomingTrack(TrackInfo):
    mid: str = Field(description="The m-line of the subscribe connection that carries it")
    user_id: uuid.UUID


class SubscribeOfferFrame(WireModel):
    """The SFU's offer for the subscribing connection, sent whenever the set of tracks the
    client receives changes. ``tracks`` maps m-lines to who and what they carry; m-lines not
    listed are idle. Answer with ``subscribe_answer``."""

    type: Literal["subscribe_offer"] = "subscribe_offer"
    sdp: str
    tracks: list[IncomingTrack]


class TrackPublishedFrame(WireModel):
    type: Literal["track_published"] = "track_published"
    user_id: uuid.UUID
    track: TrackInfo


class TrackUnpublishedFrame(WireModel):
    type: Literal["track_unpublished"] = "track_unpublished"
    user_id: uuid.UUID
    track_id: str


class ActiveSpeakerFrame(WireModel):
    """The dominant speaker changed (from the audio levels publishers send, RFC 6464)."""

    type: Literal["active_speaker"] = "active_speaker"
    user_id: uuid.UUID | None


class LobbyWaiter(WireModel):
    # Someone waiting in the lobby; no docstring: it would become the schema's description.
    model_config = ConfigDict(title="LobbyEntry")

    user_id: uuid.UUID
    display_name: str
    requested_at: datetime


class LobbyFrame(WireModel):
    """To a host or co-host, right after ``joined`` (and when someone becomes one) when
    somebody waits in the lobby: who, oldest request first."""

    type: Literal["lobby"] = "lobby"
    waiting: list[LobbyWaiter]


class LobbyRequestFrame(WireModel):
    """To the hosts and co-hosts in the room: someone asks to join (the meeting requires
    approval). Answer with ``admit`` or ``deny``."""

    type: Literal["lobby_request"] = "lobby_request"
    user_id: uuid.UUID
    display_name: str
    requested_at: datetime


class LobbyResolvedFrame(WireModel):
    """To the hosts and co-hosts in the room: a lobby request was decided (here or anywhere)."""

    type: Literal["lobby_resolved"] = "lobby_resolved"
    user_id: uuid.UUID
    admitted: bool
    by: uuid.UUID


class CaptionFrame(WireModel):
    """A finished caption line (meetings with AI on): what someone just said."""

    type: Literal["caption"] = "caption"
    id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    text: str
    started_at: datetime
    ended_at: datetime
    language: str
    emotion: LineEmotion | None = None


class EmotionCueFrame(WireModel):
    """A participant's facial expression, from their camera, about once a second at most."""

    type: Literal["emotion"] = "emotion"
    user_id: uuid.UUID
    label: Literal["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    score: float


class AnnouncementFrame(WireModel):
    """A host's announcement, to everyone in the room (the sender too)."""

    type: Literal["announcement"] = "announcement"
    id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    text: str
    audio_url: str | None = Field(description="A short-lived WAV of it spoken; none if no AI")


class ErrorFrame(WireModel):
    """A frame the node could not act on; the connection stays open unless a close follows."""

    type: Literal["error"] = "error"
    code: str
    message: str
    in_reply_to: str | None = Field(default=None, description="The type of the frame refused")


ServerFrame = (
    JoinedFrame
    | ParticipantJoinedFrame
    | ParticipantUpdatedFrame
    | ParticipantLeftFrame
    | ChatMessageFrame
    | MutedByHostFrame
    | RemovedFrame
    | MeetingEndedFrame
    | PongFrame
    | PublishAnswerFrame
    | SubscribeOfferFrame
    | TrackPublishedFrame
    | TrackUnpublishedFrame
    | ActiveSpeakerFrame
    | LobbyFrame
    | LobbyRequestFrame
    | LobbyResolvedFrame
    | CaptionFrame
    | EmotionCueFrame
    | AnnouncementFrame
    | RecordingStateFrame
    | RecordingFailedFrame
    | ErrorFrame
)


class CloseCode:
    """WebSocket close codes the node uses (4000-4999 are for applications)."""

    MEETING_ENDED = 4000
    REMOVED = 4001
    REPLACED = 4002  # the same person joined from another connection
    LEFT = 4003  # the participant left through the API (POST /meetings/{id}/leave)
    UNAUTHORIZED = 4401
    FORBIDDEN_ORIGIN = 4403
    NOT_HERE = 4404  # the meeting's room is on another node, or the meeting is over
    JOIN_TIMEOUT = 4408
    TOO_SLOW = 4429  # the client does not read fast enough
    TOO_MANY_FRAMES = 1008  # policy violation: the client went on sending past FRAME_RATE
    MESSAGE_TOO_BIG = 1009
