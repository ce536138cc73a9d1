"""``RecordedTrack``, the one model of a recorded track: rows and timelines stored before it
existed still load, and what it stores keeps their keys and their time format."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from meeting_shared.enums import TrackFormat
from meeting_shared.services.recordings import RecordedTrack, Timeline

pytestmark = pytest.mark.unit

USER = uuid.UUID("00000000-0000-4000-8000-00000000000a")
STARTED = datetime(2026, 3, 14, 9, 30, 1, 250000, tzinfo=UTC)
ENDED = datetime(2026, 3, 14, 9, 31, tzinfo=UTC)

# A ``recordings.tracks`` item as the media node wrote it (times from ``isoformat()``).
STORED_ROW = {
    "track_id": "t1",
    "user_id": str(USER),
    "display_name": "Alice",
    "kind": "video",
    "source": "camera",
    "codec": "vp8",
    "blob_key": "recordings/m/r/captures/alice-camera-video-0.rtp",
    "size_bytes": 1234,
    "started_at": STARTED.isoformat(),
    "ended_at": ENDED.isoformat(),
    "format": "capture",
}


def test_a_stored_row_loads_and_is_stored_again_unchanged() -> None:
    track = RecordedTrack.model_validate(STORED_ROW)
    assert track.started_at == STARTED and track.ended_at == ENDED
    assert track.format == TrackFormat.CAPTURE
    assert track.file == "alice-camera-video-0.rtp"  # the last part of its key
    assert track.model_dump(mode="json") == STORED_ROW  # same keys, same ISO strings
    assert json.loads(track.model_dump_json()) == STORED_ROW


def test_a_row_stored_without_a_format_is_a_matroska_file() -> None:
    row = {k: v for k, v in STORED_ROW.items() if k != "format"}
    row["blob_key"] = "recordings/m/r/tracks/alice-camera-video-0.mkv"
    track = RecordedTrack.model_validate(row)
    assert track.format == TrackFormat.MATROSKA and track.file == "alice-camera-video-0.mkv"


def test_a_timeline_stored_with_file_names_still_loads() -> None:
    """Timelines stored before the model was shared named each track's file, not its key."""
    stored = {
        "recording_id": str(uuid.uuid4()),
        "meeting_id": str(uuid.uuid4()),
        "title": "Weekly sync",
        "started_at": "2026-03-14T09:30:00Z",
        "stopped_at": "2026-03-14T09:31:00Z",
        "tracks": [
            {
                "track_id": "t1",
                "user_id": str(USER),
                "display_name": "Alice",
                "kind": "audio",
                "source": "microphone",
                "file": "alice-microphone-audio-0.mkv",
                "started_at": "2026-03-14T09:30:01.250000Z",
                "ended_at": "2026-03-14T09:31:00Z",
            }
        ],
    }
    timeline = Timeline.model_validate_json(json.dumps(stored))
    (track,) = timeline.tracks
    assert track.file == "alice-microphone-audio-0.mkv"
    assert track.started_at == STARTED and track.kind == "audio"


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        RecordedTrack.model_validate({**STORED_ROW, "kind": "data"})
