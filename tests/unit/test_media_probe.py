"""``media_probe`` on real files made on the fly with Pillow and ffmpeg's lavfi sources.

Probing and thumbnails run Debian's ffprobe/ffmpeg (no sockets), so they are marked
integration; the content-type rules are pure and marked unit.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from meeting_shared.errors import Unavailable, UnsupportedMediaType
from meeting_shared.media_probe import (
    ALLOWED_UPLOAD_TYPES,
    MediaInfo,
    MediaKind,
    PictureTooLarge,
    check_declared_type,
    make_thumbnail,
    normalize_content_type,
    probe,
    tools_available,
)

pytestmark = pytest.mark.integration

MISSING_TOOLS = "ffmpeg/ffprobe are missing: run scripts/install-system-deps.sh ffmpeg"


@pytest.fixture
def ffmpeg_installed() -> None:
    # A missing tool is a broken setup, not a reason to skip: `make test` installs it.
    if not tools_available():
        pytest.fail(MISSING_TOOLS)


needs_ffmpeg = pytest.mark.usefixtures("ffmpeg_installed")
MAX_PIXELS = 40_000_000
EXIF_ORIENTATION = 0x0112


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, capture_output=True
    )


def _has_encoder(name: str) -> bool:
    encoders = subprocess.run(
        ["ffmpeg", "-hide_banner", "-encoders"], check=True, capture_output=True, text=True
    ).stdout
    return f" {name} " in encoders


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small file of each kind we accept, plus impostors."""
    if not tools_available():
        pytest.fail(MISSING_TOOLS)
    root = tmp_path_factory.mktemp("media")
    files = {name: root / name for name in ("png", "jpeg", "webp", "gif")}

    # Transparent except for a red square, to check thumbnails flatten onto white.
    transparent = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    transparent.paste((255, 0, 0, 255), (16, 8, 48, 40))
    transparent.save(files["png"], "PNG")
    transparent.save(files["webp"], "WEBP")
    transparent.convert("P").save(files["gif"], "GIF")
    # A landscape 640x480 photo that the camera marks "rotate 90° clockwise to view".
    photo = Image.new("RGB", (640, 480), (0, 128, 255))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    photo.save(files["jpeg"], "JPEG", exif=exif)

    video_codec = "libx264" if _has_encoder("libx264") else "mpeg4"
    files["mp4"] = root / "clip.mp4"
    _ffmpeg(
        *("-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=25"),
        *("-f", "lavfi", "-i", "sine=frequency=440:duration=2"),
        *("-c:v", video_codec, "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"),
        str(files["mp4"]),
    )
    files["rotated_mp4"] = root / "portrait.mp4"
    _ffmpeg(
        *("-i", str(files["mp4"]), "-c", "copy", "-metadata:s:v:0", "rotate=90"),
        str(files["rotated_mp4"]),
    )
    files["mov"] = root / "clip.mov"
    _ffmpeg("-i", str(files["mp4"]), "-c", "copy", "-f", "mov", str(files["mov"]))
    files["wav"] = root / "tone.wav"
    _ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(files["wav"]))
    files["m4a"] = root / "tone.m4a"
    _ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(files["m4a"]))
    if _has_encoder("libopus"):
        files["ogg"] = root / "tone.ogg"
        _ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "libopus", str(files["ogg"]))
    if _has_encoder("libmp3lame"):
        # MP3 with cover art: the picture is a video stream that must not make it a "video".
        files["mp3"] = root / "song.mp3"
        _ffmpeg(
            *("-f", "lavfi", "-i", "sine=duration=1", "-i", str(files["jpeg"])),
            *("-map", "0", "-map", "1", "-c:v", "copy", "-disposition:v", "attached_pic"),
            str(files["mp3"]),
        )

    files["text_png"] = root / "notes.png"
    files["text_png"].write_text("hello, this is not a picture\n")
    files["playlist_mp4"] = root / "playlist.mp4"
    # An HLS playlist disguised as a video: ffmpeg would read the files it names.
    files["playlist_mp4"].write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n/etc/passwd\n#EXT-X-ENDLIST\n"
    )
    files["truncated_mp4"] = root / "truncated.mp4"
    files["truncated_mp4"].write_bytes(files["mp4"].read_bytes()[:200])
    return files


def _jpeg_size(data: bytes | None) -> tuple[int, int]:
    assert data is not None
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return image.size


@needs_ffmpeg
class TestProbe:
    @pytest.mark.parametrize(
        ("name", "mime_type", "codec"),
        [
            ("png", "image/png", "png"),
            ("jpeg", "image/jpeg", "mjpeg"),
            ("webp", "image/webp", "webp"),
            ("gif", "image/gif", "gif"),
        ],
    )
    async def test_images(
        self, media: dict[str, Path], name: str, mime_type: str, codec: str
    ) -> None:
        info = await probe(media[name], max_pixels=MAX_PIXELS)
        assert (info.kind, info.mime_type, info.video_codec) == ("image", mime_type, codec)
        assert info.audio_codec is None
        expected = (640, 480) if name == "jpeg" else (64, 48)
        assert (info.width, info.height) == expected

    async def test_video_with_audio(self, media: dict[str, Path]) -> None:
        info = await probe(media["mp4"], max_pixels=MAX_PIXELS)
        assert info.kind == "video"
        assert info.mime_type == "video/mp4"
        assert info.format_name.startswith("mov,mp4")
        assert (info.width, info.height) == (320, 240)
        assert info.video_codec in ("h264", "mpeg4")
        assert info.audio_codec == "aac"
        assert info.duration_seconds == pytest.approx(2.0, abs=0.1)
        assert info.bit_rate is not None and info.bit_rate > 0

    async def test_quicktime_is_told_apart_from_mp4(self, media: dict[str, Path]) -> None:
        assert (await probe(media["mov"], max_pixels=MAX_PIXELS)).mime_type == "video/quicktime"

    async def test_rotated_video_reports_its_displayed_size(self, media: dict[str, Path]) -> None:
        info = await probe(media["rotated_mp4"], max_pixels=MAX_PIXELS)
        assert (info.width, info.height) == (240, 320)

    @pytest.mark.parametrize(
        ("name", "mime_type", "codec"),
        [
            ("wav", "audio/wav", "pcm_s16le"),
            ("m4a", "audio/mp4", "aac"),
            ("ogg", "audio/ogg", "opus"),
            ("mp3", "audio/mpeg", "mp3"),
        ],
    )
    async def test_audio(
        self, media: dict[str, Path], name: str, mime_type: str, codec: str
    ) -> None:
        assert name in media, f"this ffmpeg cannot encode {name}: install Debian's ffmpeg"
        info = await probe(media[name], max_pixels=MAX_PIXELS)
        assert (info.kind, info.mime_type, info.audio_codec) == ("audio", mime_type, codec)
        assert (info.width, info.height, info.video_codec) == (None, None, None)
        assert info.duration_seconds == pytest.approx(1.0, abs=0.1)

    @pytest.mark.parametrize("name", ["text_png", "playlist_mp4", "truncated_mp4"])
    async def test_impostors_are_unsupported(self, media: dict[str, Path], name: str) -> None:
        with pytest.raises(UnsupportedMediaType):
            await probe(media[name], max_pixels=MAX_PIXELS)

    async def test_missing_file_is_unsupported(self, tmp_path: Path) -> None:
        with pytest.raises(UnsupportedMediaType):
            await probe(tmp_path / "nothing-here.png", max_pixels=MAX_PIXELS)


@needs_ffmpeg
class TestThumbnail:
    async def test_image_keeps_its_size_when_small(self, media: dict[str, Path]) -> None:
        thumbnail = await make_thumbnail(
            media["png"], await probe(media["png"], max_pixels=MAX_PIXELS), max_pixels=MAX_PIXELS
        )
        assert _jpeg_size(thumbnail) == (64, 48)

    async def test_transparency_becomes_white(self, media: dict[str, Path]) -> None:
        thumbnail = await make_thumbnail(
            media["webp"], await probe(media["webp"], max_pixels=MAX_PIXELS), max_pixels=MAX_PIXELS
        )
        assert thumbnail is not None
        with Image.open(io.BytesIO(thumbnail)) as image:
            corner = image.convert("RGB").getpixel((0, 0))
            centre = image.convert("RGB").getpixel((32, 24))
        assert isinstance(corner, tuple) and min(corner) > 240
        assert isinstance(centre, tuple) and centre[0] > 200 and centre[1] < 60

    async def test_photo_is_shrunk_and_turned_upright(self, media: dict[str, Path]) -> None:
        info = await probe(media["jpeg"], max_pixels=MAX_PIXELS)
        assert _jpeg_size(await make_thumbnail(media["jpeg"], info, max_pixels=MAX_PIXELS)) == (
            240,
            320,
        )
        assert _jpeg_size(
            await make_thumbnail(media["jpeg"], info, max_pixels=MAX_PIXELS, max_side=100)
        ) == (75, 100)

    async def test_video_frame(self, media: dict[str, Path]) -> None:
        info = await probe(media["mp4"], max_pixels=MAX_PIXELS)
        assert _jpeg_size(
            await make_thumbnail(media["mp4"], info, max_pixels=MAX_PIXELS, max_side=160)
        ) == (160, 120)

    async def test_rotated_video_frame_is_upright(self, media: dict[str, Path]) -> None:
        info = await probe(media["rotated_mp4"], max_pixels=MAX_PIXELS)
        assert _jpeg_size(
            await make_thumbnail(media["rotated_mp4"], info, max_pixels=MAX_PIXELS)
        ) == (240, 320)

    async def test_video_without_a_known_duration_uses_its_first_frame(
        self, media: dict[str, Path]
    ) -> None:
        info = replace(await probe(media["mp4"], max_pixels=MAX_PIXELS), duration_seconds=None)
        assert _jpeg_size(await make_thumbnail(media["mp4"], info, max_pixels=MAX_PIXELS)) == (
            320,
            240,
        )

    async def test_audio_has_no_thumbnail(self, media: dict[str, Path]) -> None:
        assert (
            await make_thumbnail(
                media["wav"],
                await probe(media["wav"], max_pixels=MAX_PIXELS),
                max_pixels=MAX_PIXELS,
            )
            is None
        )

    async def test_undecodable_video_is_unsupported(self, media: dict[str, Path]) -> None:
        info = await probe(media["mp4"], max_pixels=MAX_PIXELS)
        with pytest.raises(UnsupportedMediaType):
            await make_thumbnail(media["truncated_mp4"], info, max_pixels=MAX_PIXELS)


@needs_ffmpeg
class TestPixelLimit:
    """One limit for stills and video frames, checked from headers before anything decodes."""

    @pytest.mark.parametrize(("name", "size"), [("png", (64, 48)), ("mp4", (320, 240))])
    async def test_a_picture_over_the_limit_is_refused(
        self, media: dict[str, Path], name: str, size: tuple[int, int]
    ) -> None:
        width, height = size
        with pytest.raises(PictureTooLarge) as caught:
            await probe(media[name], max_pixels=width * height - 1)
        assert caught.value.code == "image_too_large" and caught.value.status == 422
        assert f"{width} x {height}" in caught.value.detail
        info = await probe(media[name], max_pixels=width * height)  # exactly the limit is fine
        assert (info.width, info.height) == size

    async def test_rotation_does_not_change_the_count(self, media: dict[str, Path]) -> None:
        with pytest.raises(PictureTooLarge):
            await probe(media["rotated_mp4"], max_pixels=320 * 240 - 1)

    async def test_thumbnails_hold_to_the_limit_themselves(self, media: dict[str, Path]) -> None:
        # Described by a probe with a higher limit (as a file whose stream grows would be).
        still = await probe(media["png"], max_pixels=MAX_PIXELS)
        with pytest.raises(PictureTooLarge):
            await make_thumbnail(media["png"], still, max_pixels=64 * 48 - 1)
        video = await probe(media["mp4"], max_pixels=MAX_PIXELS)
        with pytest.raises(UnsupportedMediaType) as caught:  # ffmpeg's decoder refuses it
            await make_thumbnail(media["mp4"], video, max_pixels=320 * 240 - 1)
        assert caught.value.code == "undecodable"

    async def test_audio_has_no_picture_to_limit(self, media: dict[str, Path]) -> None:
        info = await probe(media["wav"], max_pixels=1)
        assert info.kind == "audio"


@pytest.mark.unit
class TestContentTypes:
    def _info(self, kind: MediaKind, mime_type: str) -> MediaInfo:
        return MediaInfo(kind=kind, format_name="x", mime_type=mime_type)

    def test_allowed_types_cover_the_common_uploads(self) -> None:
        for content_type, kind in {
            "image/jpeg": "image",
            "image/png": "image",
            "image/webp": "image",
            "image/gif": "image",
            "video/mp4": "video",
            "video/webm": "video",
            "video/quicktime": "video",
            "audio/mpeg": "audio",
            "audio/ogg": "audio",
            "audio/wav": "audio",
            "audio/webm": "audio",
            "audio/mp4": "audio",
        }.items():
            assert ALLOWED_UPLOAD_TYPES[content_type] == kind
        assert "image/svg+xml" not in ALLOWED_UPLOAD_TYPES  # scripts inside

    @pytest.mark.parametrize(
        ("declared", "normal"),
        [
            ("image/JPG", "image/jpeg"),
            ("audio/webm;codecs=opus", "audio/webm"),
            (" Audio/X-WAV ", "audio/wav"),
            ("audio/x-m4a", "audio/mp4"),
            ("audio/mp3", "audio/mpeg"),
            ("video/mp4", "video/mp4"),
        ],
    )
    def test_normalize_content_type(self, declared: str, normal: str) -> None:
        assert normalize_content_type(declared) == normal

    def test_declared_type_of_the_same_kind_yields_the_probed_type(self) -> None:
        # A PNG uploaded as "image/jpeg" is still an image: store what it really is.
        assert check_declared_type("image/jpeg", self._info("image", "image/png")) == "image/png"
        webm = self._info("audio", "audio/webm")
        assert check_declared_type("audio/webm;codecs=opus", webm) == "audio/webm"

    def test_declared_type_of_another_kind_is_refused(self) -> None:
        with pytest.raises(UnsupportedMediaType) as caught:
            check_declared_type("image/png", self._info("video", "video/mp4"))
        assert caught.value.code == "content_type_mismatch"

    def test_types_outside_the_list_are_refused(self) -> None:
        with pytest.raises(UnsupportedMediaType) as caught:
            check_declared_type("text/html", self._info("image", "image/png"))
        assert caught.value.code == "content_type_not_allowed"
        # Declared fine, but the file is a Matroska video, which we do not serve.
        with pytest.raises(UnsupportedMediaType):
            check_declared_type("video/webm", self._info("video", "video/x-matroska"))

    async def test_missing_ffprobe_is_unavailable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))
        assert shutil.which("ffprobe") is None
        assert not tools_available()
        with pytest.raises(Unavailable, match="ffprobe is not installed"):
            await probe(tmp_path / "x.png", max_pixels=MAX_PIXELS)
