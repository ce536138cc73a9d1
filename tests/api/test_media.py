"""Media library over real S3 (SeaweedFS): presigned uploads, ffprobe checks, thumbnails, access."""

from __future__ import annotations

import asyncio
import io
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import Api, UserSession

pytestmark = pytest.mark.integration


def _png(width: int = 400, height: int = 300) -> bytes:
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


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
    assert (
        await api.server.container.blobs.head(f"media/{owner.id}/{started['media']['id']}") is None
    )


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

    assert (await owner.client.delete(f"/api/v1/media/{shared['id']}")).status_code == 204
    assert (await owner.client.get(f"/api/v1/media/{shared['id']}")).status_code == 404
    assert await api.server.container.blobs.head(f"media/{owner.id}/{shared['id']}") is None
