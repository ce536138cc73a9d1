"""``recording.mixer`` on per-track files made on the fly with ffmpeg's lavfi sources.

The scenario (12 s): camera A (VP8 640x480) all along; camera B (H.264, portrait 360x640) from
3 s to 9 s; B's screen share (1280x720) from 4 s to 8 s; A's microphone (440 Hz) from 1 s to
11 s; B's microphone (660 Hz) from 3 s to 9 s. So the layout is: A full frame, A|B side by side,
screen + strip, A|B, A full; audio: silence, 440, 440+660, 440, silence.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from meeting_sfu.recording.layout import layout
from meeting_sfu.recording.mixer import MixResult, mix
from meeting_sfu.recording.probe import MixError, probe
from meeting_shared.services.recordings import RecordedTrack, Timeline

pytestmark = pytest.mark.integration

START = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
ALICE = uuid.UUID("00000000-0000-4000-8000-00000000000a")
BOB = uuid.UUID("00000000-0000-4000-8000-00000000000b")
CAPTIONS = (
    "WEBVTT\n\n"
    "00:00:01.000 --> 00:00:03.000\nAlice: hello everyone\n\n"
    "00:00:05.000 --> 00:00:08.000\nBob: sharing my screen\n"
)

Image8 = NDArray[np.uint8]


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, capture_output=True
    )


def _track(
    track_id: str,
    user: uuid.UUID,
    name: str,
    source: str,
    file: str,
    start: float,
    end: float,
) -> RecordedTrack:
    return RecordedTrack.model_validate(
        {
            "track_id": track_id,
            "user_id": user,
            "display_name": name,
            "kind": "audio" if source == "microphone" else "video",
            "source": source,
            "file": file,
            "started_at": START + timedelta(seconds=start),
            "ended_at": START + timedelta(seconds=end),
        }
    )


def _timeline(tracks: list[RecordedTrack], seconds: float, title: str = "Weekly sync") -> Timeline:
    return Timeline(
        recording_id=uuid.uuid4(),
        meeting_id=uuid.uuid4(),
        title=title,
        started_at=START,
        stopped_at=START + timedelta(seconds=seconds),
        tracks=tracks,
    )


@dataclass(frozen=True)
class Recording:
    folder: Path
    timeline: Timeline
    captions: Path
    result: MixResult


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.fail("ffmpeg/ffprobe are missing: run scripts/install-system-deps.sh ffmpeg")
    root = tmp_path_factory.mktemp("recording")
    vp8 = ("-c:v", "libvpx", "-b:v", "1M", "-deadline", "realtime", "-cpu-used", "8")
    lavfi = ("-f", "lavfi", "-i")
    _ffmpeg(*lavfi, "testsrc2=size=640x480:rate=30", "-t", "12", *vp8, str(root / "cam-a.mkv"))
    _ffmpeg(
        *lavfi,
        "testsrc2=size=360x640:rate=30",
        *("-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
        str(root / "cam-b.mkv"),
    )
    _ffmpeg(*lavfi, "testsrc=size=1280x720:rate=10", "-t", "4", *vp8, str(root / "screen-b.mkv"))
    for name, hertz, seconds in (("mic-a.mkv", 440, 10), ("mic-b.mkv", 660, 6)):
        _ffmpeg(
            *lavfi,
            f"sine=frequency={hertz}:sample_rate=48000",
            *("-t", str(seconds), "-c:a", "libopus"),
            str(root / name),
        )
    (root / "captions.vtt").write_text(CAPTIONS, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def recording(folder: Path) -> Recording:
    timeline = _timeline(
        [
            _track("cam-a", ALICE, "Alice O'Hara: [lead], a;b", "camera", "cam-a.mkv", 0, 12),
            _track("cam-b", BOB, "Bob 李", "camera", "cam-b.mkv", 3, 9),
            _track("screen-b", BOB, "Bob", "screen", "screen-b.mkv", 4, 8),
            _track("mic-a", ALICE, "Alice", "microphone", "mic-a.mkv", 1, 11),
            _track("mic-b", BOB, "Bob", "microphone", "mic-b.mkv", 3, 9),
        ],
        12,
    )
    captions = folder / "captions.vtt"
    result = mix(timeline, folder, folder / "out" / "meeting.mp4", captions=captions)
    return Recording(folder, timeline, captions, result)


def _frames_at(path: Path, times: list[float]) -> dict[float, Image8]:
    """RGB pictures of the first frames at or after each time (seconds)."""
    wanted = sorted(times)
    found: dict[float, Image8] = {}
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            while wanted and frame.time is not None and frame.time >= wanted[0] - 1e-6:
                found[wanted.pop(0)] = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            if not wanted:
                break
    assert not wanted, f"no frames at {wanted}"
    return found


def _audio(path: Path) -> tuple[NDArray[np.float64], int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        chunks = [frame.to_ndarray().astype(np.float64) for frame in container.decode(stream)]
    stereo = np.concatenate(chunks, axis=1)
    return stereo.mean(axis=0), rate


def _mad(a: Image8, b: Image8) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _top_level_boxes(path: Path) -> list[str]:
    names: list[str] = []
    data = path.read_bytes()
    at = 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        names.append(data[at + 4 : at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        if size < 8:
            break
        at += size
    return names


def test_output_is_one_browser_playable_mp4(recording: Recording) -> None:
    info = probe(recording.result.path)
    assert len(info.video) == 1 and len(info.audio) == 1 and len(info.subtitles) == 1
    video, audio, subtitles = info.video[0], info.audio[0], info.subtitles[0]
    assert (video.codec_name, video.width, video.height, video.pix_fmt) == (
        "h264",
        1280,
        720,
        "yuv420p",
    )
    assert (audio.codec_name, audio.sample_rate) == ("aac", 48000)
    assert subtitles.codec_name == "mov_text"
    assert "mp4" in info.format_name
    assert info.duration is not None and abs(info.duration - 12) <= 0.5
    assert abs(recording.result.duration_seconds - 12) <= 0.5
    assert recording.result.size_bytes == recording.result.path.stat().st_size > 0
    # +faststart: the index comes before the media, so browsers start playing at once.
    boxes = _top_level_boxes(recording.result.path)
    assert boxes.index("moov") < boxes.index("mdat")
    # Browsers show captions only from a <track>: the WebVTT is kept beside the video.
    assert recording.result.captions == recording.result.path.with_suffix(".vtt")
    assert recording.result.captions.read_text(encoding="utf-8") == CAPTIONS
    leftovers = [p.name for p in recording.result.path.parent.iterdir() if ".part" in p.name]
    assert leftovers == []


def test_the_picture_changes_over_time(recording: Recording) -> None:
    frames = _frames_at(recording.result.path, [1, 5, 10])
    assert _mad(frames[1], frames[5]) > 10
    assert _mad(frames[5], frames[10]) > 10
    assert _mad(frames[1], frames[10]) > 1  # same camera, but the test pattern moves


def test_the_layout_follows_who_is_on_camera(recording: Recording) -> None:
    frames = _frames_at(recording.result.path, [1, 3.5, 5, 10])
    alone, pair, sharing, later = frames[1], frames[3.5], frames[5], frames[10]

    # 1 s: only A (4:3) fills the 16:9 frame: 960x720 centred, black bars left and right.
    assert alone[:, :150].mean() < 12 and alone[:, 1130:].mean() < 12
    assert alone[:, 200:1080].mean() > 50

    # 3.5 s: A and B side by side in 640x720 tiles: A letterboxed (black above), B's portrait
    # picture 404 wide centred in the right tile (black between the two pictures).
    assert pair[:110, :640].mean() < 12
    assert pair[:, 650:750].mean() < 12
    assert pair[200:600, 770:1150].mean() > 50

    # 5 s: the screen share fills the left 75 % (960x540, centred vertically) and matches the
    # shared test pattern; the cameras sit in the strip on the right.
    with av.open(str(recording.folder / "screen-b.mkv")) as container:
        shared = next(f for f in container.decode(video=0) if f.time is not None and f.time >= 1)
        picture = Image.fromarray(np.asarray(shared.to_ndarray(format="rgb24"), dtype=np.uint8))
        expected = np.asarray(picture.resize((960, 540), Image.Resampling.BILINEAR))
    assert _mad(sharing[90:630, :960], expected) < 20
    assert _mad(later[90:630, :960], expected) > 40
    assert sharing[:80, :960].mean() < 12
    assert sharing[180:540, 960:].mean() > 30


def test_audio_mixes_every_track_at_its_offset(recording: Recording) -> None:
    samples, rate = _audio(recording.result.path)
    assert abs(len(samples) / rate - 12) < 0.1
    rms = [float(np.sqrt(np.mean(samples[s * rate : (s + 1) * rate] ** 2))) for s in range(12)]
    assert rms[0] < 1e-3, "silent before the first microphone starts"
    assert all(value > 0.03 for value in rms[1:11]), rms
    assert rms[11] < 1e-3, "silent after the last microphone stops"
    # normalize=0: two voices together are louder than one, not each halved.
    assert rms[5] > rms[2] * 1.3

    def energy(second: int, hertz: float) -> float:
        window = samples[second * rate : (second + 1) * rate]
        spectrum = np.abs(np.fft.rfft(window))
        freqs = np.fft.rfftfreq(len(window), 1 / rate)
        return float(spectrum[np.abs(freqs - hertz) < 5].sum())

    assert energy(2, 440) > 20 * energy(2, 660), "only A speaks at 2 s"
    assert energy(5, 660) > 0.3 * energy(5, 440), "B speaks too at 5 s"
    assert energy(10, 440) > 20 * energy(10, 660), "B has left at 10 s"


def test_thumbnail_is_a_jpeg_of_the_meeting(recording: Recording) -> None:
    thumbnail = recording.result.thumbnail
    assert thumbnail == recording.result.path.with_suffix(".jpg")
    assert thumbnail.read_bytes()[:3] == b"\xff\xd8\xff"
    with Image.open(thumbnail) as image:
        assert image.format == "JPEG"
        assert image.size == (640, 360)
        assert np.asarray(image.convert("L")).mean() > 20


def test_no_camera_gives_a_title_card_with_audio(folder: Path, tmp_path: Path) -> None:
    timeline = _timeline(
        [_track("mic-a", ALICE, "Alice", "microphone", "mic-a.mkv", 0.5, 6)], 6, "Board meeting"
    )
    result = mix(timeline, folder, tmp_path / "audio-only.mp4", width=640, height=360)
    info = probe(result.path)
    assert [s.codec_name for s in info.streams] == ["h264", "aac"]
    assert info.duration is not None and abs(info.duration - 6) <= 0.5
    frame = _frames_at(result.path, [3])[3]
    assert frame[:100].mean() < 8 and frame[260:].mean() < 8, "black around the title"
    assert frame[150:210].max() > 200, "the title is drawn in the middle"
    samples, rate = _audio(result.path)
    assert float(np.sqrt(np.mean(samples[rate : 2 * rate] ** 2))) > 0.03


def test_captions_can_be_burnt_in(folder: Path, tmp_path: Path) -> None:
    # Over a title card (black but for the centred title) a caption is easy to find.
    timeline = _timeline([_track("mic-a", ALICE, "Alice", "microphone", "mic-a.mkv", 0, 6)], 6)
    result = mix(
        timeline,
        folder,
        tmp_path / "burnt.mp4",
        captions=folder / "captions.vtt",
        burn_captions=True,
        width=640,
        height=360,
    )
    assert [s.codec_name for s in probe(result.path).streams] == ["h264", "aac", "mov_text"]
    frames = _frames_at(result.path, [2, 4])
    # The first cue (1-3 s) is drawn in the lower part of the picture, and only while it lasts.
    assert frames[2][250:].max() > 200
    assert frames[4][250:].max() < 40


def test_a_resolution_change_mid_track_keeps_the_layout(folder: Path, tmp_path: Path) -> None:
    # Senders lower their resolution under congestion: one file, two sizes of frames.
    vp8 = ("-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-t", "3")
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30", *vp8, str(tmp_path / "a.mkv"))
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", *vp8, str(tmp_path / "b.mkv"))
    (tmp_path / "list.txt").write_text("file 'a.mkv'\nfile 'b.mkv'\n", encoding="utf-8")
    concat = ("-f", "concat", "-safe", "0", "-i", str(tmp_path / "list.txt"), "-c", "copy")
    _ffmpeg(*concat, str(tmp_path / "changing.mkv"))
    shutil.copyfile(folder / "cam-a.mkv", tmp_path / "steady.mkv")
    timeline = _timeline(
        [
            _track("changing", ALICE, "Alice", "camera", "changing.mkv", 0, 6),
            _track("steady", BOB, "Bob", "camera", "steady.mkv", 2, 6),
        ],
        6,
    )
    result = mix(timeline, tmp_path, tmp_path / "out.mp4", width=640, height=360)
    info = probe(result.path)
    assert (info.video[0].width, info.video[0].height) == (640, 360)
    assert info.duration is not None and abs(info.duration - 6) <= 0.5
    before, after = (f[:, :320] for f in _frames_at(result.path, [2.5, 4.5]).values())
    # Same tile, same place (320x240 at y=60 in the left 320x360 tile): the picture is scaled
    # to the size chosen for the first frames, so the black letterbox rows stay where they were.
    for frame in (before, after):
        assert frame[:56].mean() < 12 and frame[304:].mean() < 12
        assert frame[64:296].mean() > 50


def test_missing_file_is_a_clear_error(folder: Path, tmp_path: Path) -> None:
    timeline = _timeline([_track("gone", ALICE, "Alice", "camera", "gone.mkv", 0, 3)], 3)
    with pytest.raises(MixError, match=r"track gone: file gone\.mkv does not exist"):
        mix(timeline, folder, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_corrupt_file_reports_ffmpegs_message(tmp_path: Path) -> None:
    (tmp_path / "broken.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 40)
    timeline = _timeline([_track("broken", ALICE, "Alice", "camera", "broken.mkv", 0, 3)], 3)
    with pytest.raises(MixError, match=r"track broken: ffprobe broken\.mkv failed: ") as caught:
        mix(timeline, tmp_path, tmp_path / "out.mp4")
    assert "Invalid data" in str(caught.value) or "EBML" in str(caught.value)


def test_files_outside_the_folder_are_refused(folder: Path, tmp_path: Path) -> None:
    inside = tmp_path / "rec"
    inside.mkdir()
    shutil.copyfile(folder / "cam-a.mkv", tmp_path / "elsewhere.mkv")
    for name in ("../elsewhere.mkv", str(tmp_path / "elsewhere.mkv")):
        timeline = _timeline([_track("cam", ALICE, "Alice", "camera", name, 0, 3)], 3)
        with pytest.raises(MixError, match="outside the folder"):
            mix(timeline, inside, tmp_path / "out.mp4")


def test_a_stuck_ffmpeg_is_stopped_by_the_timeout(folder: Path, tmp_path: Path) -> None:
    timeline = _timeline([_track("cam-a", ALICE, "Alice", "camera", "cam-a.mkv", 0, 12)], 12)
    with pytest.raises(MixError, match="timed out"):
        mix(timeline, folder, tmp_path / "out.mp4", timeout=0.2)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_recording_is_refused(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(MixError, match="nothing to mix"):
        mix(_timeline([], 0), folder, tmp_path / "out.mp4")


def test_grid_shapes() -> None:
    def cameras(count: int) -> list[tuple[str, str, int, int]]:
        return [(f"c{i}", "camera", 640, 480) for i in range(count)]

    def boxes(count: int) -> list[tuple[int, int, int, int]]:
        return [(t.box_x, t.box_y, t.box_w, t.box_h) for t in layout(cameras(count), 1280, 720)]

    assert boxes(1) == [(0, 0, 1280, 720)]
    assert boxes(2) == [(0, 0, 640, 720), (640, 0, 640, 720)]
    assert boxes(3) == [(0, 0, 640, 360), (640, 0, 640, 360), (320, 360, 640, 360)]
    assert len(boxes(6)) == 6 and {b[2] for b in boxes(6)} == {426}
    assert len(boxes(9)) == 9 and len(boxes(12)) == 9
    for count in range(1, 13):
        tiles = layout(cameras(count), 1280, 720)
        for tile in tiles:
            assert tile.x >= 0 and tile.y >= 0
            assert tile.x + tile.w <= 1280 and tile.y + tile.h <= 720
            assert tile.box_x <= tile.x and tile.x + tile.w <= tile.box_x + tile.box_w
            assert abs(tile.w / tile.h - 4 / 3) < 0.05, "letterboxed, not stretched"
            assert tile.x % 2 == tile.y % 2 == tile.w % 2 == tile.h % 2 == 0


def test_screen_share_takes_most_of_the_frame() -> None:
    tiles = layout(
        [
            ("cam-a", "camera", 640, 480),
            ("old-screen", "screen", 1920, 1080),
            ("cam-b", "camera", 360, 640),
            ("new-screen", "screen", 1280, 720),
        ],
        1280,
        720,
    )
    assert [t.track_id for t in tiles] == ["new-screen", "cam-a", "cam-b"]
    screen, *strip = tiles
    assert (screen.box_w, screen.box_h, screen.w, screen.h) == (960, 720, 960, 540)
    assert all(t.box_x == 960 and t.box_w == 320 for t in strip)
    assert layout([("s", "screen", 1280, 720)], 1280, 720)[0].w == 1280
