"""The AI side of a media node: live captions, emotion cues and spoken announcements.

In a meeting with AI on, every microphone track gets an audio tap (a copy of its packets, decoded
off the forwarding path, cut into speech segments by voice activity detection) and every camera
track a sampler (about one picture a second). Speech goes out as ``ai.asr.requested``; the AI
nodes answer with ``ai.asr.transcribed``, which this node, and only this node (``node_id``),
turns into ``caption`` frames. Pictures go straight to the face model; an answer becomes an
``emotion`` frame. Nothing here touches forwarding: a slow or absent AI plane costs captions,
never media.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from opentelemetry.trace import SpanKind

from meeting_sfu.media.taps import AudioTap, SpeechSegment, VideoSampler
from meeting_sfu.media.tracks import PublishedTrack
from meeting_sfu.protocol import AnnouncementFrame, CaptionFrame, EmotionCueFrame
from meeting_sfu.rooms import Room, RoomRegistry
from meeting_shared.ai import audio as codec
from meeting_shared.ai.client import AiClient
from meeting_shared.blobs import BlobStore
from meeting_shared.bus import EventBus
from meeting_shared.db.models import Meeting
from meeting_shared.errors import MeetingError
from meeting_shared.events import (
    AsrRequested,
    AsrTranscribed,
    Event,
    MeetingUpdated,
    parse_event_data,
)
from meeting_shared.services.factory import OpenServices
from meeting_shared.services.meetings import MeetingSettings, meeting_settings
from meeting_shared.services.transcripts import emotion_of
from meeting_shared.state import StateStore
from meeting_shared.telemetry import tracer

logger = logging.getLogger(__name__)

SOURCE = "sfu"
FACE_INTERVAL_SECONDS = 2.0  # each picture costs the publisher a keyframe (media.taps)
ANNOUNCEMENT_URL_TTL = 300
# Spoken announcements waiting for deletion: blob key -> when its URL expired (epoch seconds).
ANNOUNCEMENTS_PENDING = "announcements:pending"
ANNOUNCEMENTS_PENDING_TTL = 24 * 3600.0  # the record outlives every URL in it by far
Tap = AudioTap | VideoSampler


@dataclass
class RoomAi:
    """One room's taps, and who refused emotion cues."""

    settings: MeetingSettings
    taps: dict[str, Tap] = field(default_factory=dict)  # by track id
    no_emotion: set[uuid.UUID] = field(default_factory=set)
    tracks: dict[str, PublishedTrack] = field(default_factory=dict)  # published, tapped or not


class NodeAi:
    def __init__(
        self,
        node_id: str,
        rooms: RoomRegistry,
        *,
        bus: EventBus,
        ai: AiClient,
        state: StateStore,
        blobs: BlobStore,
        open_services: OpenServices,
    ) -> None:
        self._node_id = node_id
        self._rooms = rooms
        self._bus = bus
        self._ai = ai
        self._state = state
        self._blobs = blobs
        self._open_services = open_services
        self._by_meeting: dict[uuid.UUID, RoomAi] = {}
        self._pending: set[asyncio.Task[None]] = set()
        bus.subscribe(AsrTranscribed.event_type, self._on_transcribed, name="captions")
        bus.subscribe(MeetingUpdated.event_type, self._on_meeting_updated, name="ai")

    # --- rooms and tracks -----------------------------------------------------------------------

    def room_opened(self, meeting: Meeting) -> None:
        """A join: the meeting's settings as of now (each join refreshes them)."""
        settings = meeting_settings(meeting)
        self._by_meeting.setdefault(meeting.id, RoomAi(settings))
        self._apply(meeting.id, settings)

    def _apply(self, meeting_id: uuid.UUID, settings: MeetingSettings) -> None:
        state = self._by_meeting.get(meeting_id)
        if state is None:
            return
        if settings != state.settings:
            state.settings = settings
            self._retap(meeting_id, state)

    def room_closed(self, meeting_id: uuid.UUID) -> None:
        state = self._by_meeting.pop(meeting_id, None)
        if state is not None:
            for tap in state.taps.values():
                self._spawn(tap.stop())

    def observer(self, meeting_id: uuid.UUID) -> Callable[[PublishedTrack, bool], None]:
        """What the room's media calls when a track is published (True) or unpublished."""

        def changed(track: PublishedTrack, published: bool) -> None:
            state = self._by_meeting.get(meeting_id)
            if state is None:
                return
            if published:
                state.tracks[track.track_id] = track
                self._tap(meeting_id, state, track)
            else:
                state.tracks.pop(track.track_id, None)
                tap = state.taps.pop(track.track_id, None)
                if tap is not None:
                    self._spawn(tap.stop())

        return changed

    def _wants(self, state: RoomAi, track: PublishedTrack) -> bool:
        if not state.settings.ai:
            return False
        if track.kind == "audio":
            return track.source == "microphone"
        return (
            track.source == "camera"
            and state.settings.ai_emotion
            and track.user_id not in state.no_emotion
        )

    def _tap(self, meeting_id: uuid.UUID, state: RoomAi, track: PublishedTrack) -> None:
        if track.track_id in state.taps or not self._wants(state, track):
            return
        tap: Tap
        if track.kind == "audio":
            tap = AudioTap(track, self._speech_to(meeting_id))
        else:
            tap = VideoSampler(track, self._face_of(meeting_id), interval=FACE_INTERVAL_SECONDS)
        state.taps[track.track_id] = tap
        tap.start()

    def _retap(self, meeting_id: uuid.UUID, state: RoomAi) -> None:
        """Settings or consent changed: stop taps no longer wanted, start the missing ones."""
        for track_id, tap in list(state.taps.items()):
            track = state.tracks.get(track_id)
            if track is None or not self._wants(state, track):
                del state.taps[track_id]
                self._spawn(tap.stop())
        for track in state.tracks.values():
            self._tap(meeting_id, state, track)

    def set_emotion_cues(self, meeting_id: uuid.UUID, user_id: uuid.UUID, enabled: bool) -> None:
        state = self._by_meeting.get(meeting_id)
        if state is None:
            return
        if enabled:
            state.no_emotion.discard(user_id)
        else:
            state.no_emotion.add(user_id)
        self._retap(meeting_id, state)

    # --- captions -------------------------------------------------------------------------------

    def _speech_to(self, meeting_id: uuid.UUID) -> Callable[[SpeechSegment], Awaitable[None]]:
        async def speech(segment: SpeechSegment) -> None:
            state = self._by_meeting.get(meeting_id)
            if state is None or not state.settings.ai:
                return
            language = state.settings.ai_language
            request = AsrRequested(
                meeting_id=meeting_id,
                segment_id=uuid.uuid4(),
                user_id=segment.user_id,
                node_id=self._node_id,
                language="" if language == "auto" else language,
                started_at=segment.started_at,
                ended_at=segment.ended_at,
                audio=base64.b64encode(segment.pcm16).decode(),
            )
            # A trace per segment: the AI node's transcription and the caption it sends back
            # are spans of it (their events carry it on).
            with tracer.start_as_current_span(
                "speech segment", kind=SpanKind.PRODUCER,
                attributes={"meeting.id": str(meeting_id), "segment.seconds": segment.duration},
            ):  # fmt: skip
                envelope = request.envelope(SOURCE)
            try:
                await self._bus.publish([envelope])
            except MeetingError:  # Kafka down: this line is lost, the meeting goes on
                logger.warning("speech not sent for captions", exc_info=True)

        return speech

    async def _on_transcribed(self, event: Event) -> None:
        line = parse_event_data(event)
        assert isinstance(line, AsrTranscribed)
        if line.node_id != self._node_id:
            return
        room = self._rooms.rooms.get(line.meeting_id)
        if room is None:
            return
        emotion = emotion_of(line.emotion, line.emotion_score)
        room.broadcast(
            CaptionFrame(
                id=line.segment_id,
                user_id=line.user_id,
                display_name=await self._name_of(room, line.user_id),
                text=line.text,
                started_at=line.started_at,
                ended_at=line.ended_at,
                language=line.language,
                emotion=emotion,
            )
        )

    async def _name_of(self, room: Room, user_id: uuid.UUID) -> str:
        connection = room.connections.get(user_id)
        if connection is not None:
            return connection.info.display_name
        async with self._open_services(read_only=True) as services:  # they left meanwhile
            name = await services.accounts.display_name_of(user_id)
        return name or ""

    # --- emotion cues ---------------------------------------------------------------------------

    def _face_of(self, meeting_id: uuid.UUID) -> Callable[[uuid.UUID, bytes], Awaitable[None]]:
        async def face(user_id: uuid.UUID, picture: bytes) -> None:
            state = self._by_meeting.get(meeting_id)
            room = self._rooms.rooms.get(meeting_id)
            if state is None or room is None or user_id in state.no_emotion:
                return
            try:
                found = await self._ai.face_emotions(picture)
            except MeetingError:
                logger.debug("no emotion cue for a picture", exc_info=True)
                return
            if not found.faces or user_id in state.no_emotion:
                return
            best = found.faces[0]  # the largest face: the person at the camera
            label = best.emotion
            if label in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"):
                room.broadcast(
                    EmotionCueFrame(user_id=user_id, label=label, score=best.scores[label])
                )

        return face

    async def _on_meeting_updated(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, MeetingUpdated)
        if "settings" not in data.fields or data.meeting_id not in self._by_meeting:
            return
        async with self._open_services(read_only=True) as services:
            settings = await services.meetings.settings_of(data.meeting_id)
        if settings is not None:
            self._apply(data.meeting_id, settings)

    # --- announcements --------------------------------------------------------------------------

    async def announce(self, room: Room, user_id: uuid.UUID, name: str, text: str) -> None:
        """Speak ``text`` into the room: everyone gets it written, and spoken when an AI node can
        synthesize it (stored as a WAV behind a short-lived URL)."""
        announcement_id = uuid.uuid4()
        audio_url: str | None = None
        try:
            samples, rate = await self._ai.synthesize(text)
            key = f"announcements/{room.meeting_id}/{announcement_id}.wav"
            audio_url = await self.store_spoken(key, codec.to_wav(samples, rate))
        except MeetingError:
            logger.warning("announcement not spoken", exc_info=True)
        room.broadcast(
            AnnouncementFrame(
                id=announcement_id,
                user_id=user_id,
                display_name=name,
                text=text,
                audio_url=audio_url,
            )
        )

    async def store_spoken(self, key: str, wav: bytes) -> str:
        """Store a spoken announcement behind a URL valid ``ANNOUNCEMENT_URL_TTL`` seconds; the
        WAV is deleted once the URL has expired (``sweep_announcements``)."""
        expires = time.time() + ANNOUNCEMENT_URL_TTL
        # Recorded before it is stored: no WAV outlives its URL unrecorded.
        await self._state.hash_set(
            ANNOUNCEMENTS_PENDING, key, repr(expires), ttl=ANNOUNCEMENTS_PENDING_TTL
        )
        blobs = self._blobs
        await blobs.put(key, wav, "audio/wav")
        return await blobs.download_url(
            key,
            filename="announcement.wav",
            content_type="audio/wav",
            expires_in=ANNOUNCEMENT_URL_TTL,
        )

    async def sweep_announcements(self, now: float | None = None) -> int:
        """Delete the spoken announcements whose URLs have expired (whichever node stored them:
        the record is shared); returns how many."""
        now = time.time() if now is None else now
        state = self._state
        deleted = 0
        for key, expires in (await state.hash_get_all(ANNOUNCEMENTS_PENDING)).items():
            if float(expires) > now:
                continue
            await self._blobs.delete(key)
            await state.hash_delete(ANNOUNCEMENTS_PENDING, key)
            deleted += 1
        return deleted

    def _spawn(self, job: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await job
            except Exception:  # a tap that failed to stop cleanly must not break the room
                logger.warning("stopping a tap failed", exc_info=True)

        task = asyncio.ensure_future(run())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
