"""Recording on the media node: every published track of a recorded room goes to a capture file
of its own, from the packets the node already forwards (``recording.recorder``: the packets as
they came, nothing parsed), and the files go to the blob store when the recording stops; the
mixing worker (``recording.mixing``) turns them into Matroska files and one video.

The node follows the recording's events: ``recording.started`` (for a room on this node) starts
a recorder on each track, and on each track published while it runs; ``recording.stopped``
closes them, stores the files and the timeline (who published what, when), and records
``recording.saved`` for the mixing worker. Everyone in the room sees a ``recording`` frame at each
change and in their ``joined`` snapshot. Files are written under ``DATA_DIR/recordings`` as they
come (append-only), so a crash keeps what was written: the node stores it when it starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from meeting_sfu.media.tracks import PublishedTrack
from meeting_sfu.protocol import RecordingFailedFrame, RecordingStateFrame
from meeting_sfu.recording.recorder import CapturedTrack, TrackRecorder, read_captured
from meeting_sfu.rooms import Room, RoomRegistry
from meeting_shared.blobs import BlobStore
from meeting_shared.bus import EventBus
from meeting_shared.clock import utcnow
from meeting_shared.container import Container
from meeting_shared.enums import TrackFormat
from meeting_shared.events import (
    Event,
    RecordingFailed,
    RecordingStarted,
    RecordingStopped,
    parse_event_data,
)
from meeting_shared.services.factory import OpenServices
from meeting_shared.services.meetings import MANAGER_ROLES
from meeting_shared.services.recordings import CAPTURES, RecordedTrack

logger = logging.getLogger(__name__)

TrackObserver = Callable[[PublishedTrack, bool], None]
CONTENT_TYPE = "application/octet-stream"
MANIFEST = "manifest.jsonl"
CAPTURE_SUFFIX = ".rtp"


@dataclass
class RoomRecording:
    recording_id: uuid.UUID
    meeting_id: uuid.UUID
    started_by: uuid.UUID
    started_at: datetime
    folder: Path
    recorders: dict[str, TrackRecorder] = field(default_factory=dict)  # by track id
    done: list[CapturedTrack] = field(default_factory=list)
    names: dict[uuid.UUID, str] = field(default_factory=dict)
    stopping: set[asyncio.Task[None]] = field(default_factory=set)

    def state(self) -> RecordingStateFrame:
        return RecordingStateFrame(
            active=True,
            recording_id=self.recording_id,
            started_by=self.started_by,
            started_at=self.started_at,
        )


def blob_prefix(meeting_id: uuid.UUID, recording_id: uuid.UUID) -> str:
    return f"recordings/{meeting_id}/{recording_id}"


class NodeRecordings:
    """The recordings of the rooms on this node; ``folder`` holds their files until stored."""

    def __init__(
        self,
        *,
        node_id: str,
        rooms: RoomRegistry,
        open_services: OpenServices,
        blobs: BlobStore,
        bus: EventBus,
        folder: Path,
    ) -> None:
        self._node_id = node_id
        self._rooms = rooms
        self._open_services = open_services
        self._blobs = blobs
        self._active: dict[uuid.UUID, RoomRecording] = {}  # by meeting
        self._root = folder
        bus.subscribe(RecordingStarted.event_type, self._on_started, name="recording-start")
        bus.subscribe(RecordingStopped.event_type, self._on_stopped, name="recording-stop")
        bus.subscribe(RecordingFailed.event_type, self._on_failed, name="recording-failed")

    @classmethod
    def from_container(
        cls, container: Container, node_id: str, rooms: RoomRegistry
    ) -> NodeRecordings:
        """Wired from the process's container (files under ``DATA_DIR/recordings``)."""
        return cls(
            node_id=node_id,
            rooms=rooms,
            open_services=container.open_services,
            blobs=container.blobs,
            bus=container.bus,
            folder=container.settings.data_dir / "recordings",
        )

    @property
    def rooms_recording(self) -> int:
        return len(self._active)

    def state(self, meeting_id: uuid.UUID) -> RecordingStateFrame:
        active = self._active.get(meeting_id)
        return active.state() if active is not None else RecordingStateFrame(active=False)

    # --- tracks ---------------------------------------------------------------------------

    def observer(self, meeting_id: uuid.UUID, room: Room) -> TrackObserver:
        def changed(track: PublishedTrack, published: bool) -> None:
            active = self._active.get(meeting_id)
            if active is None:
                return
            if published:
                self._record(active, room, track)
            else:
                recorder = active.recorders.pop(track.track_id, None)
                if recorder is not None:
                    self._finish(active, recorder)

        return changed

    def _record(self, active: RoomRecording, room: Room, track: PublishedTrack) -> None:
        if track.track_id in active.recorders:
            return
        connection = room.connections.get(track.user_id)
        if connection is not None:
            active.names[track.user_id] = connection.info.display_name
        # One file per publication: a track published again later gets a new file.
        count = len(active.done) + len(active.recorders)
        name = f"{track.user_id}-{track.source}-{track.kind}-{count}"
        recorder = TrackRecorder(track, active.folder / f"{name}{CAPTURE_SUFFIX}")
        active.recorders[track.track_id] = recorder
        recorder.start()
        # What a node that restarts after a crash needs to store the files it finds.
        entry = {
            "file": f"{name}{CAPTURE_SUFFIX}",
            "track_id": track.track_id,
            "user_id": str(track.user_id),
            "display_name": active.names.get(track.user_id, ""),
            "kind": track.kind,
            "source": track.source,
            "started_at": utcnow().isoformat(),
        }
        with (active.folder / MANIFEST).open("a", encoding="utf-8") as manifest:
            manifest.write(json.dumps(entry) + "\n")

    def _finish(self, active: RoomRecording, recorder: TrackRecorder) -> None:
        async def finish() -> None:
            try:
                active.done.append(await recorder.stop())
            except Exception:
                logger.warning("a track's recording could not be closed", exc_info=True)

        task = asyncio.ensure_future(finish())
        active.stopping.add(task)
        task.add_done_callback(active.stopping.discard)

    # --- the recording's events ------------------------------------------------------------

    async def _on_started(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, RecordingStarted)
        if data.node_id != self._node_id or data.meeting_id in self._active:
            return
        room = self._rooms.rooms.get(data.meeting_id)
        if room is None:
            await self._fail(
                data.meeting_id, data.recording_id, "Everyone had left the room: nothing to record"
            )
            return
        folder = self._root / str(data.recording_id)
        folder.mkdir(parents=True, exist_ok=True)
        active = RoomRecording(
            recording_id=data.recording_id,
            meeting_id=data.meeting_id,
            started_by=data.actor_id,
            started_at=event.time,
            folder=folder,
        )
        self._active[data.meeting_id] = active
        for track in list(room.media.tracks.values()):
            self._record(active, room, track)
        room.broadcast(active.state())

    async def _on_stopped(self, event: Event) -> None:
        data = parse_event_data(event)
        assert isinstance(data, RecordingStopped)
        active = self._active.get(data.meeting_id)
        if active is None or active.recording_id != data.recording_id:
            if data.node_id == self._node_id:  # ours, but this process does not have it
                await self._fail(
                    data.meeting_id,
                    data.recording_id,
                    "The media node restarted during the recording; its files were kept on "
                    "the node but not stored",
                )
            return
        del self._active[data.meeting_id]
        room = self._rooms.rooms.get(data.meeting_id)
        if room is not None:
            room.broadcast(RecordingStateFrame(active=False))
        for recorder in list(active.recorders.values()):
            self._finish(active, recorder)
        active.recorders.clear()
        if active.stopping:
            await asyncio.gather(*active.stopping, return_exceptions=True)
        try:
            await self._store(active, event.time)
        except Exception as exc:
            logger.exception("a recording could not be stored")
            await self._fail(active.meeting_id, active.recording_id, f"Storing failed: {exc}")
            return
        shutil.rmtree(active.folder, ignore_errors=True)

    async def _store(self, active: RoomRecording, stopped_at: datetime) -> None:
        """Upload each capture; the timeline and the row follow in one transaction."""
        prefix = blob_prefix(active.meeting_id, active.recording_id)
        tracks: list[RecordedTrack] = []
        for captured in sorted(active.done, key=lambda c: c.first_at or stopped_at):
            if captured.first_at is None or captured.packets == 0:
                continue  # published, never sent anything while recording
            key = f"{prefix}/{CAPTURES}/{captured.path.name}"
            await self._blobs.upload_from(key, captured.path, CONTENT_TYPE)
            tracks.append(
                RecordedTrack(
                    track_id=captured.track_id,
                    user_id=captured.user_id,
                    display_name=active.names.get(captured.user_id, ""),
                    kind=captured.kind,
                    source=captured.source,
                    codec=captured.codec,
                    blob_key=key,
                    size_bytes=captured.path.stat().st_size,
                    started_at=captured.first_at,
                    ended_at=captured.last_at or stopped_at,
                    format=TrackFormat.CAPTURE,
                )
            )
        async with self._open_services() as services:
            await services.recordings.mark_saved(
                active.recording_id,
                node_id=self._node_id,
                started_at=active.started_at,
                stopped_at=stopped_at,
                tracks=tracks,
                timeline_key=f"{prefix}/timeline.json",
            )

    async def _fail(self, meeting_id: uuid.UUID, recording_id: uuid.UUID, reason: str) -> None:
        async with self._open_services() as services:
            await services.recordings.fail(recording_id, reason)

    async def _on_failed(self, event: Event) -> None:
        """Failures are told to the room's hosts and co-hosts, never silent."""
        data = parse_event_data(event)
        assert isinstance(data, RecordingFailed)
        room = self._rooms.rooms.get(data.meeting_id)
        if room is None:
            return
        active = self._active.get(data.meeting_id)
        if active is not None and active.recording_id == data.recording_id:
            del self._active[data.meeting_id]
            for recorder in active.recorders.values():
                self._finish(active, recorder)
            room.broadcast(RecordingStateFrame(active=False))
        frame = RecordingFailedFrame(recording_id=data.recording_id, reason=data.reason)
        for connection in list(room.connections.values()):
            if connection.info.role in MANAGER_ROLES:
                connection.send(frame)

    async def recover(self) -> None:
        """After a crash: store the files a recording of this node left on disk, as far as they
        were written (a cut last chunk is left out), and hand them to the mixer."""
        if not self._root.is_dir():
            return
        for folder in sorted(p for p in self._root.iterdir() if p.is_dir()):
            try:
                await self._recover(folder)
            except Exception:
                logger.exception("a recording left on disk could not be stored")

    async def _recover(self, folder: Path) -> None:
        recording_id = uuid.UUID(folder.name)
        manifest = folder / MANIFEST
        async with self._open_services(read_only=True) as services:
            row = await services.recordings.left_by_crash(recording_id, self._node_id)
        if row is None:
            return
        if row.meeting_id in self._active:
            return  # recording right now, in this process
        entries = [json.loads(line) for line in manifest.read_text().splitlines() if line]
        done: list[CapturedTrack] = []
        for entry in entries:
            path = folder / entry["file"]
            if path.is_file():
                captured = await asyncio.to_thread(read_captured, path)
                if captured is not None:
                    done.append(captured)
        stopped_at = row.stopped_at or utcnow()
        async with self._open_services() as services:
            await services.recordings.mark_interrupted(recording_id, stopped_at)
        active = RoomRecording(
            recording_id=recording_id,
            meeting_id=row.meeting_id,
            started_by=row.started_by or uuid.UUID(int=0),
            started_at=row.started_at,
            folder=folder,
            done=done,
            names={uuid.UUID(e["user_id"]): e["display_name"] for e in entries},
        )
        await self._store(active, stopped_at)
        shutil.rmtree(folder, ignore_errors=True)
        logger.info("a recording left by a crash was stored", extra={"id": str(recording_id)})

    async def aclose(self) -> None:
        """The node stops: close the files properly (they stay on disk, readable)."""
        for active in list(self._active.values()):
            for recorder in active.recorders.values():
                with contextlib.suppress(Exception):
                    await recorder.stop()
