"""The mixing worker: turns saved recordings into Matroska files per track (recording.remux, from
the media node's captures) and one video each (recording.mixer), and applies retention.

The database is the queue: a recording waits in status ``saved`` until a worker claims it (a
conditional update, so two workers never take the same one); ``recording.saved`` only wakes a
worker sooner than its next look. A claim older than ``STALE_CLAIM`` (the worker died while
mixing) is taken again. Mixing runs ffmpeg in a thread, so the worker's process goes on serving.
Every read and write of a recording goes through ``RecordingService``.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from meeting_sfu.recording.mixer import mix
from meeting_sfu.recording.remux import remux
from meeting_shared import metrics
from meeting_shared.background import wait_for_event
from meeting_shared.blobs import BlobStore
from meeting_shared.bus import EventBus
from meeting_shared.clock import utcnow
from meeting_shared.container import Container
from meeting_shared.db.models import Recording
from meeting_shared.enums import TrackFormat
from meeting_shared.events import Event, RecordingSaved
from meeting_shared.services.factory import OpenServices
from meeting_shared.services.recordings import RecordedTrack, Timeline, stored_tracks
from meeting_shared.services.transcripts import Transcript, as_webvtt

logger = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=30)
IDLE_SECONDS = 30.0
RETENTION_EVERY = timedelta(hours=1)


class MixingWorker:
    def __init__(
        self,
        *,
        open_services: OpenServices,
        blobs: BlobStore,
        bus: EventBus,
        retention_days: int,
    ) -> None:
        self._open_services = open_services
        self._blobs = blobs
        self._retention_days = retention_days
        self._wake = asyncio.Event()
        self._last_sweep = utcnow() - RETENTION_EVERY
        bus.subscribe(RecordingSaved.event_type, self._on_saved, name="recording-mixer")

    @classmethod
    def from_container(cls, container: Container) -> MixingWorker:
        """Wired from the process's container (``RECORDING_RETENTION_DAYS``)."""
        return cls(
            open_services=container.open_services,
            blobs=container.blobs,
            bus=container.bus,
            retention_days=container.settings.recording_retention_days,
        )

    async def _on_saved(self, event: Event) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Mix what is waiting, sweep old recordings now and then, until cancelled."""
        while True:
            try:
                while (recording_id := await self.claim()) is not None:
                    await self.mix(recording_id)
                if utcnow() - self._last_sweep >= RETENTION_EVERY:
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the mixing worker failed a round; trying again shortly")
            await wait_for_event(self._wake, IDLE_SECONDS)
            self._wake.clear()

    async def claim(self) -> Recording | None:
        async with self._open_services() as services:
            return await services.recordings.claim_for_mixing(STALE_CLAIM)

    async def mix(self, recording: Recording) -> None:
        started = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="meeting-mix-") as directory:
                await self._mix_in(recording, Path(directory))
        except Exception as exc:
            logger.exception("a recording could not be mixed", extra={"id": str(recording.id)})
            metrics.RECORDINGS_MIXED.labels("failed").inc()
            await self._failed(recording, f"Mixing failed: {exc}")
            return
        metrics.RECORDINGS_MIXED.labels("ready").inc()
        metrics.RECORDING_MIXING_SECONDS.observe(time.monotonic() - started)

    async def _mix_in(self, recording: Recording, folder: Path) -> None:
        blobs = self._blobs
        if recording.timeline_key is None:
            raise RuntimeError("the recording has no timeline")
        timeline = Timeline.model_validate_json(await blobs.get(recording.timeline_key))
        prefix = recording.timeline_key.rsplit("/", 1)[0]
        if any(t.format == TrackFormat.CAPTURE for t in stored_tracks(recording)):
            timeline = await self._remux(recording, timeline, prefix, folder)
        else:
            for track in timeline.tracks:
                await blobs.download_to(f"{prefix}/tracks/{track.file}", folder / track.file)
        captions = await self._captions(recording, timeline, folder)
        output = folder / "meeting.mp4"
        result = await asyncio.to_thread(mix, timeline, folder, output, captions=captions)
        video_key, thumbnail_key = f"{prefix}/meeting.mp4", f"{prefix}/thumbnail.jpg"
        await blobs.upload_from(video_key, result.path, "video/mp4")
        await blobs.upload_from(thumbnail_key, result.thumbnail, "image/jpeg")
        captions_key = None
        if captions is not None:
            captions_key = f"{prefix}/captions.vtt"
            await blobs.upload_from(captions_key, captions, "text/vtt")
        async with self._open_services() as services:
            stored = await services.recordings.mark_ready(
                recording.id,
                blob_key=video_key,
                thumbnail_key=thumbnail_key,
                captions_key=captions_key,
                size_bytes=result.size_bytes,
                duration_seconds=result.duration_seconds,
            )
        if not stored:
            for key in (video_key, thumbnail_key, captions_key):
                if key is not None:
                    await blobs.delete(key)  # deleted while we mixed

    async def _remux(
        self, recording: Recording, timeline: Timeline, prefix: str, folder: Path
    ) -> Timeline:
        """The captures into Matroska files: stored as the recording's tracks, with the
        timeline's times made exact; the captures go once that is saved."""
        blobs = self._blobs
        captures = {t.track_id: t for t in stored_tracks(recording)}
        tracks: list[RecordedTrack] = []
        for track in timeline.tracks:
            capture = captures.get(track.track_id)
            if capture is None or capture.format != TrackFormat.CAPTURE:
                raise RuntimeError(f"no capture of track {track.track_id}")
            source = folder / track.file
            await blobs.download_to(capture.blob_key, source)
            name = Path(track.file).with_suffix(".mkv").name
            remuxed = await asyncio.to_thread(remux, source, folder / name)
            source.unlink()
            if remuxed.started_at is None or remuxed.ended_at is None:
                continue  # nothing playable (video that never had a keyframe)
            if remuxed.error is not None:
                logger.warning("a track was remuxed in part", extra={"error": remuxed.error})
            key = f"{prefix}/tracks/{name}"
            await blobs.upload_from(key, remuxed.path, "video/x-matroska")
            tracks.append(
                capture.model_copy(
                    update={
                        "codec": remuxed.codec,
                        "blob_key": key,
                        "size_bytes": remuxed.bytes,
                        "started_at": remuxed.started_at,
                        "ended_at": remuxed.ended_at,
                        "format": TrackFormat.MATROSKA,
                        "file": name,
                    }
                )
            )
        remuxed_timeline = timeline.model_copy(update={"tracks": tracks})
        assert recording.timeline_key is not None
        await blobs.put(
            recording.timeline_key, remuxed_timeline.model_dump_json().encode(), "application/json"
        )
        async with self._open_services() as services:
            if not await services.recordings.replace_tracks(recording.id, tracks):
                return remuxed_timeline  # deleted meanwhile: mixing notices at the end
        recording.tracks = [track.model_dump(mode="json") for track in tracks]
        for capture in captures.values():
            if capture.format == TrackFormat.CAPTURE:
                await blobs.delete(capture.blob_key)
        return remuxed_timeline

    async def _captions(
        self, recording: Recording, timeline: Timeline, folder: Path
    ) -> Path | None:
        """The meeting's caption lines said while recording, as WebVTT timed from its start."""
        async with self._open_services(read_only=True) as services:
            lines = await services.transcripts.lines_between(
                recording.meeting_id, timeline.started_at, timeline.stopped_at
            )
        if not lines:
            return None
        transcript = Transcript(
            meeting_id=recording.meeting_id,
            title=timeline.title,
            started_at=timeline.started_at,
            lines=lines,
        )
        path = folder / "captions.vtt"
        path.write_text(as_webvtt(transcript), encoding="utf-8")
        return path

    async def _failed(self, recording: Recording, reason: str) -> None:
        async with self._open_services() as services:
            await services.recordings.fail(recording.id, reason)

    async def sweep(self) -> int:
        """Delete recordings older than ``RECORDING_RETENTION_DAYS`` (0 keeps them forever)."""
        self._last_sweep = utcnow()
        async with self._open_services() as services:
            removed = await services.recordings.apply_retention(self._retention_days)
        if removed:
            metrics.RECORDINGS_EXPIRED.inc(removed)
            logger.info("old recordings removed", extra={"count": removed})
        return removed
