"""Media library over real S3 (SeaweedFS): presigned uploads, ffprobe checks, thumbnails, access."""

from __future__ import annotations

import asyncio
import binascii
import io
import json
import logging
import struct
import subprocess
import sys
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from PIL import Image
from prometheus_client import REGISTRY
from sqlalchemy import select

from meeting_shared.db.models import MediaFile
from tests.harness.ports import free_port
from tests.support.api import Api, UserSession
from tests.support.live_server import production_settings, start_live_server

if TYPE_CHECKING:
    from tests.harness.seaweedfs import S3Config

pytestmark = pytest.mark.integration

BOMB_SIDE = 13_000  # 169 Mpx: over the 40 Mpx cap, under Pillow's own 179 Mpx refusal


def _png(width: int = 400, height: int = 300) -> bytes:
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _png_bomb(width: int = BOMB_SIDE, height: int = BOMB_SIDE) -> bytes:
    """An all-black RGB PNG, written row by row: a few hundred KB that decode to width*height*3.

    Built with zlib directly so the test itself never holds the decoded picture in memory.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = binascii.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    deflate = zlib.compressobj(9)
    row = b"\0" * (1 + width * 3)  # filter byte 0, then the pixels
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _mp4(path: Path) -> bytes:
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=15",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
            "-shortest", "-pix_fmt", "yuv420p", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


async def _start(user: UserSession, **fields: Any) -> httpx.Response:
    return await user.client.post("/api/v1/media/uploads", json=fields)


async def _upload(data: bytes, target: dict[str, Any], content_type: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(
            target["url"], data=target["fields"], files={"file": ("f", data, content_type)}
        )


async def _uploaded(
    user: UserSession, data: bytes, content_type: str, **fields: Any
) -> dict[str, Any]:
    started = await _start(
        user, filename="file", content_type=content_type, size=len(data), **fields
    )
    assert started.status_code == 201, started.text
    sent = await _upload(data, started.json()["upload"], content_type)
    assert sent.status_code in (200, 201, 204), sent.text
    complete = await user.client.post(
        f"/api/v1/media/uploads/{started.json()['media']['id']}/complete"
    )
    assert complete.status_code == 200, complete.text
    body: dict[str, Any] = complete.json()
    return body


async def _fetch(user: UserSession, path: str) -> httpx.Response:
    redirect = await user.client.get(path)
    assert redirect.status_code == 307, redirect.text
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.get(redirect.headers["location"])


async def test_image_upload_probe_thumbnail_and_download(api: Api) -> None:
    owner = await api.user("owner")
    image = _png()
    started = await _start(
        owner, filename="../../etc/slide.png", content_type="image/png", size=len(image)
    )
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["media"]["status"] == "pending"
    assert body["media"]["filename"] == "slide.png"  # no path tricks survive
    target = body["upload"]
    assert target["method"] == "POST" and target["max_bytes"] == len(image)
    assert target["url"].startswith(api.server.settings.s3_endpoint)

    assert (await _upload(image, target, "image/png")).status_code in (200, 201, 204)
    media = (
        await owner.client.post(f"/api/v1/media/uploads/{body['media']['id']}/complete")
    ).json()
    assert (media["status"], media["kind"], media["width"], media["height"]) == (
        "ready",
        "image",
        400,
        300,
    )
    assert media["size_bytes"] == len(image) and media["has_thumbnail"] is True
    again = await owner.client.post(f"/api/v1/media/uploads/{media['id']}/complete")
    assert again.status_code == 409

    downloaded = await _fetch(owner, f"/api/v1/media/{media['id']}/download")
    assert downloaded.content == image
    assert 'filename="slide.png"' in downloaded.headers["content-disposition"]
    thumbnail = await _fetch(owner, f"/api/v1/media/{media['id']}/thumbnail")
    with Image.open(io.BytesIO(thumbnail.content)) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) == 320

    listed = (await owner.client.get("/api/v1/media")).json()
    assert [item["id"] for item in listed["items"]] == [media["id"]]


async def test_video_metadata_comes_from_ffprobe(api: Api, tmp_path: Path) -> None:
    owner = await api.user("owner")
    video = await asyncio.to_thread(_mp4, tmp_path / "clip.mp4")
    media = await _uploaded(owner, video, "video/mp4")
    assert media["kind"] == "video" and (media["width"], media["height"]) == (320, 240)
    assert media["duration_seconds"] == pytest.approx(2.0, abs=0.2)
    assert media["details"]["video_codec"] and media["details"]["audio_codec"]
    assert media["has_thumbnail"] is True


async def test_declared_limits_are_checked_up_front(api: Api) -> None:
    owner = await api.user("owner")
    wrong_type = await _start(owner, filename="a.pdf", content_type="application/pdf", size=10)
    assert wrong_type.status_code == 415
    assert wrong_type.headers["content-type"] == "application/problem+json"
    too_big = await _start(
        owner,
        filename="a.mp4",
        content_type="video/mp4",
        size=api.server.settings.upload_max_bytes + 1,
    )
    assert too_big.status_code == 413
    nonsense = await _start(owner, filename="a.png", content_type="image/png", size=-5)
    assert nonsense.status_code == 422


async def test_storage_refuses_more_bytes_than_declared(api: Api) -> None:
    owner = await api.user("owner")
    started = (await _start(owner, filename="a.png", content_type="image/png", size=100)).json()
    refused = await _upload(_png(), started["upload"], "image/png")
    assert refused.status_code >= 400
    missing = await owner.client.post(f"/api/v1/media/uploads/{started['media']['id']}/complete")
    assert missing.status_code == 409 and missing.json()["code"] == "upload_missing"


async def test_content_that_is_not_what_it_claims_is_refused(api: Api) -> None:
    owner = await api.user("owner")
    fake = b"#!/bin/sh\necho this is not a picture\n" * 10
    started = (
        await _start(owner, filename="x.png", content_type="image/png", size=len(fake))
    ).json()
    assert (await _upload(fake, started["upload"], "image/png")).status_code in (200, 201, 204)
    refused = await owner.client.post(f"/api/v1/media/uploads/{started['media']['id']}/complete")
    assert refused.status_code == 415, refused.text
    media = (await owner.client.get(f"/api/v1/media/{started['media']['id']}")).json()
    assert media["status"] == "failed"
    # The reason stays with the file, with its code for clients to translate.
    assert media["details"]["error_code"] == refused.json()["code"]
    # Nothing of it is kept, under the upload's key or elsewhere.
    row = await _media_row(api, started["media"]["id"])
    assert row.blob_key == started["upload"]["fields"]["key"] and row.thumbnail_key is None
    assert await api.server.container.blobs.head(row.blob_key) is None


async def test_only_owner_and_meeting_members_can_read(api: Api) -> None:
    owner, member, outsider = (
        await api.user("owner"),
        await api.user("member"),
        await api.user("out"),
    )
    meeting = await api.meeting(owner)
    await owner.client.post(
        f"/api/v1/meetings/{meeting['id']}/invites", json={"user_id": str(member.id)}
    )
    shared = await _uploaded(owner, _png(), "image/png", meeting_id=meeting["id"])
    private = await _uploaded(owner, _png(64, 64), "image/png")

    assert (await _fetch(member, f"/api/v1/media/{shared['id']}/download")).status_code == 200
    in_meeting = (
        await member.client.get("/api/v1/media", params={"meeting_id": meeting["id"]})
    ).json()
    assert [item["id"] for item in in_meeting["items"]] == [shared["id"]]
    for path in (f"/api/v1/media/{private['id']}", f"/api/v1/media/{private['id']}/download"):
        assert (await member.client.get(path)).status_code == 404
    for path in (f"/api/v1/media/{shared['id']}", f"/api/v1/media/{shared['id']}/download"):
        assert (await outsider.client.get(path)).status_code == 404
    assert (
        await outsider.client.get("/api/v1/media", params={"meeting_id": meeting["id"]})
    ).status_code == 404
    not_member = await _start(
        outsider, filename="a.png", content_type="image/png", size=10, meeting_id=meeting["id"]
    )
    assert not_member.status_code == 404
    assert (await member.client.delete(f"/api/v1/media/{shared['id']}")).status_code == 404

    row = await _media_row(api, shared["id"])
    assert await api.server.container.blobs.head(row.blob_key) is not None
    assert (await owner.client.delete(f"/api/v1/media/{shared['id']}")).status_code == 204
    assert (await owner.client.get(f"/api/v1/media/{shared['id']}")).status_code == 404
    for key in (row.blob_key, row.thumbnail_key):
        assert key is not None and await api.server.container.blobs.head(key) is None


# -- the embedded (local-disk) store, whose upload and download URLs the gateway serves itself


async def _own_server(
    migrated_postgres: str, redis_url: str, s3_config: S3Config, data_dir: Path, **overrides: Any
) -> tuple[Api, Any]:
    settings = production_settings(
        postgres_url=migrated_postgres,
        redis_url=redis_url,
        s3=s3_config,
        data_dir=data_dir,
        port=free_port(),
        **overrides,
    )
    server, stop = await start_live_server(settings)
    return Api(server), stop


@pytest.fixture(scope="module")
async def embedded_api(
    migrated_postgres: str,
    redis_url: str,
    s3_config: S3Config,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Api]:
    """The gateway with the local-disk blob store (no S3 endpoint), as `make run` serves it."""
    world, stop = await _own_server(
        migrated_postgres,
        redis_url,
        s3_config,
        tmp_path_factory.mktemp("embedded-media"),
        s3_endpoint="",
    )
    try:
        yield world
    finally:
        await world.aclose()
        await stop()


@pytest.fixture(params=["s3", "embedded"])
def any_store_api(request: pytest.FixtureRequest) -> Api:
    """The same API over each blob store: S3 (SeaweedFS) presigned POSTs and the local store."""
    fixture = "api" if request.param == "s3" else "embedded_api"
    world: Api = request.getfixturevalue(fixture)
    return world


async def _media_row(world: Api, media_id: str) -> MediaFile:
    async with world.server.container.db.read_session() as session:
        row = await session.scalar(select(MediaFile).where(MediaFile.id == uuid.UUID(media_id)))
    assert row is not None
    return row


def _assert_safe_download(response: httpx.Response, content_type: str, *, embedded: bool) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == content_type
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert "filename*=UTF-8''" in response.headers["content-disposition"]
    if embedded:  # S3 presigned GETs cannot add headers other than the response-* overrides
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_used_upload_form_cannot_replace_the_verified_file(any_store_api: Api) -> None:
    world = any_store_api
    embedded = not world.server.settings.s3_endpoint
    owner = await world.user("owner")
    image = _png()
    started = await _start(owner, filename="slide.png", content_type="image/png", size=len(image))
    assert started.status_code == 201, started.text
    media_id, target = started.json()["media"]["id"], started.json()["upload"]
    assert (await _upload(image, target, "image/png")).status_code in (200, 201, 204)
    completed = await owner.client.post(f"/api/v1/media/uploads/{media_id}/complete")
    assert completed.status_code == 200, completed.text

    # The form is still within its lifetime: post it again with a page that runs a script.
    page = b"<html><body><script>alert(document.cookie)</script>".ljust(len(image), b" ")
    await _upload(page, target, "image/png")  # wherever it lands, nobody may be served it

    downloaded = await _fetch(owner, f"/api/v1/media/{media_id}/download")
    _assert_safe_download(downloaded, "image/png", embedded=embedded)
    assert downloaded.content == image
    thumbnail = await _fetch(owner, f"/api/v1/media/{media_id}/thumbnail")
    _assert_safe_download(thumbnail, "image/jpeg", embedded=embedded)
    with Image.open(io.BytesIO(thumbnail.content)) as thumb:
        assert thumb.format == "JPEG"

    # What is served lives under a key no upload form names.
    row = await _media_row(world, media_id)
    assert row.blob_key != target["fields"]["key"]
    assert row.thumbnail_key is not None and row.thumbnail_key != target["fields"]["key"]

    # Deleting the file removes the upload's leftovers too.
    assert (await owner.client.delete(f"/api/v1/media/{media_id}")).status_code == 204
    blobs = world.server.container.blobs
    for key in (row.blob_key, row.thumbnail_key, target["fields"]["key"]):
        assert await blobs.head(key) is None, key


async def test_racing_completions_keep_one_verified_copy(embedded_api: Api) -> None:
    owner = await embedded_api.user("owner")
    image = _png()
    started = (
        await _start(owner, filename="a.png", content_type="image/png", size=len(image))
    ).json()
    media_id = started["media"]["id"]
    assert (await _upload(image, started["upload"], "image/png")).status_code == 204
    path = f"/api/v1/media/uploads/{media_id}/complete"
    answers = await asyncio.gather(owner.client.post(path), owner.client.post(path))
    assert sorted(answer.status_code for answer in answers) == [200, 409], answers
    conflict = next(answer for answer in answers if answer.status_code == 409)
    assert conflict.json()["code"] == "upload_not_pending"

    row = await _media_row(embedded_api, media_id)
    objects = embedded_api.server.settings.data_dir / "blobs" / "objects"
    mine = (objects / "media" / str(owner.id)).rglob("*")
    kept = sorted(str(p.relative_to(objects)) for p in mine if p.is_file())
    assert kept == sorted([row.blob_key, str(row.thumbnail_key)])
    assert (await _fetch(owner, f"/api/v1/media/{media_id}/download")).content == image


async def test_an_html_page_declared_as_png_is_refused(any_store_api: Api) -> None:
    owner = await any_store_api.user("owner")
    page = b"<!doctype html><html><body><script>alert(1)</script></body></html>\n" * 4
    started = (
        await _start(owner, filename="x.png", content_type="image/png", size=len(page))
    ).json()
    assert (await _upload(page, started["upload"], "image/png")).status_code in (200, 201, 204)
    refused = await owner.client.post(f"/api/v1/media/uploads/{started['media']['id']}/complete")
    assert refused.status_code == 415, refused.text
    assert refused.json()["code"] == "unsupported_media"
    download = await owner.client.get(f"/api/v1/media/{started['media']['id']}/download")
    assert download.status_code == 409 and download.json()["code"] == "media_not_ready"


# -- pixel limits


async def test_an_image_bomb_is_refused_before_it_is_decoded(any_store_api: Api) -> None:
    owner = await any_store_api.user("owner")
    bomb = _png_bomb()
    assert len(bomb) < 1024 * 1024
    started = (
        await _start(owner, filename="bomb.png", content_type="image/png", size=len(bomb))
    ).json()
    assert (await _upload(bomb, started["upload"], "image/png")).status_code in (200, 201, 204)
    refused = await owner.client.post(f"/api/v1/media/uploads/{started['media']['id']}/complete")
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    # Refused for its size as the header states it, not by Pillow's own bomb check (179 Mpx).
    assert body["code"] == "image_too_large"
    assert f"{BOMB_SIDE} x {BOMB_SIDE}" in body["detail"]
    assert str(any_store_api.server.settings.image_max_pixels) in body["detail"]
    media = (await owner.client.get(f"/api/v1/media/{started['media']['id']}")).json()
    assert media["status"] == "failed" and media["details"]["error_code"] == "image_too_large"


_MEASURE_PROBE = """
import asyncio, json, resource, sys
from pathlib import Path
from meeting_shared import media_probe
from meeting_shared.errors import MeetingError

code = None
try:
    asyncio.run(media_probe.probe(Path(sys.argv[1]), max_pixels=int(sys.argv[2])))
except MeetingError as exc:
    code = exc.code
# VmHWM is this image's own peak; ru_maxrss of SELF would carry the forking test process's.
status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
print(json.dumps({
    "code": code,
    "self_kib": int(status["VmHWM"].split()[0]),
    "children_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
"""


async def test_probing_an_image_bomb_stays_in_bounded_memory(tmp_path: Path) -> None:
    """ffprobe decodes a PNG to describe it: the check must come before, in a few MB."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_bomb())  # decoded: 13000 * 13000 * 3 bytes = 483 MiB
    measured = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _MEASURE_PROBE, str(bomb), "40000000"],
        capture_output=True,
        check=True,
        text=True,
        timeout=60,
    )
    report = json.loads(measured.stdout.strip().splitlines()[-1])
    assert report["code"] == "image_too_large"
    decoded_kib = BOMB_SIDE * BOMB_SIDE * 3 // 1024
    # The interpreter with its imports and ffprobe itself take far less than one decoded copy.
    assert report["self_kib"] < decoded_kib // 2, report
    assert report["children_kib"] < decoded_kib // 2, report


@pytest.fixture(scope="module")
async def small_picture_api(
    migrated_postgres: str,
    redis_url: str,
    s3_config: S3Config,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Api]:
    """A gateway whose picture limit is below 320 x 240, to refuse small test files."""
    world, stop = await _own_server(
        migrated_postgres,
        redis_url,
        s3_config,
        tmp_path_factory.mktemp("small-pictures"),
        image_max_pixels=320 * 240 - 1,
    )
    try:
        yield world
    finally:
        await world.aclose()
        await stop()


async def test_one_picture_limit_covers_video_frames_and_avatars(
    small_picture_api: Api, tmp_path: Path
) -> None:
    owner = await small_picture_api.user("owner")
    video = await asyncio.to_thread(_mp4, tmp_path / "clip.mp4")  # 320 x 240
    started = (
        await _start(owner, filename="clip.mp4", content_type="video/mp4", size=len(video))
    ).json()
    assert (await _upload(video, started["upload"], "video/mp4")).status_code in (200, 201, 204)
    refused = await owner.client.post(f"/api/v1/media/uploads/{started['media']['id']}/complete")
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "image_too_large"
    assert "320 x 240" in refused.json()["detail"]

    avatar = await owner.client.put(
        "/api/v1/users/me/avatar", files={"file": ("me.png", _png(320, 240), "image/png")}
    )
    assert avatar.status_code == 422, avatar.text
    assert avatar.json()["code"] == "image_too_large"
    # Just under the limit is fine for both.
    small = await owner.client.put(
        "/api/v1/users/me/avatar", files={"file": ("me.png", _png(319, 240), "image/png")}
    )
    assert small.status_code == 200, small.text


# -- a client that goes away mid-upload


def _requests_counted(route: str, status: int) -> float:
    value = REGISTRY.get_sample_value(
        "http_requests_total", {"method": "POST", "route": route, "status": str(status)}
    )
    return value or 0.0


async def test_a_client_dropping_mid_upload_is_not_a_server_error(
    embedded_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    owner = await embedded_api.user("owner")
    image = _png()
    started = (
        await _start(owner, filename="a.png", content_type="image/png", size=len(image))
    ).json()
    target = started["upload"]
    boundary = "meetingboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in target["fields"].items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    head = "".join(parts).encode()
    url = httpx.URL(target["url"])
    route = "/api/v1/blobs/upload"
    before = {status: _requests_counted(route, status) for status in (499, 500)}

    caplog.set_level(logging.INFO)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(url.host, url.port), 5)
    declared = len(head) + len(image) + 64
    writer.write(
        (
            f"POST {url.raw_path.decode()} HTTP/1.1\r\nHost: {url.netloc.decode()}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
        + head
        + image[: len(image) // 2]
    )
    await writer.drain()
    writer.close()  # gone, half-way through the file
    await asyncio.wait_for(writer.wait_closed(), 5)
    del reader

    for _ in range(500):  # the server notices the disconnect on its next read
        if _requests_counted(route, 499) > before[499]:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the aborted upload was never counted as 499")
    assert _requests_counted(route, 500) == before[500]
    assert not [record for record in caplog.records if record.exc_info], [
        record.getMessage() for record in caplog.records if record.exc_info
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    aborted = [r for r in caplog.records if r.getMessage() == "upload aborted by the client"]
    assert aborted and aborted[0].levelno == logging.INFO
    # Nothing of the half file was kept.
    missing = await owner.client.post(f"/api/v1/media/uploads/{started['media']['id']}/complete")
    assert missing.status_code == 409 and missing.json()["code"] == "upload_missing"
