"""The ``BlobStore`` contract, run against the local and the S3 (SeaweedFS) adapters.

Signed uploads and downloads are exercised the way clients use them: for S3 over real HTTP
against SeaweedFS, for the local store through ``accept_upload``/``resolve_download``, which is
all the media function's HTTP route does. Each adapter has a ``StoreClient`` that reports what
happened in the same words, so one test states one rule for both. Adapter-only details follow
the contract class.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import parse_qs, quote, urlsplit
from xml.etree import ElementTree

import httpx
import pytest

from meeting_shared.blobs import BlobStore, UploadTarget
from meeting_shared.blobs.local import LocalBlobStore
from meeting_shared.blobs.port import content_disposition
from meeting_shared.blobs.s3 import S3BlobStore
from meeting_shared.errors import (
    Forbidden,
    InvalidInput,
    MeetingError,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
)

pytestmark = pytest.mark.contract

if TYPE_CHECKING:
    from tests.harness.seaweedfs import S3Config

# Also meant to be listed in tests/conftest.py; naming it here keeps this module runnable alone.

Outcome = Literal["stored", "too_large", "too_small", "denied", "expired", "not_found"]
Key = Callable[[str], str]
SIGNING_KEY = b"contract-test-signing-key-0123456789"
PUBLIC_URL = "http://media.test"


@dataclass(frozen=True)
class Download:
    body: bytes
    content_type: str
    disposition: str


class StoreClient(Protocol):
    """Drives one adapter's signed URLs as a browser would, reporting outcomes uniformly."""

    signature_field: str

    @property
    def store(self) -> BlobStore: ...

    async def upload(
        self, target: UploadTarget, data: bytes, fields: Mapping[str, str] | None = None
    ) -> Outcome: ...

    async def download(self, url: str) -> Download | Outcome: ...

    def raise_policy_limit(self, fields: Mapping[str, str], max_bytes: int) -> dict[str, str]:
        """The same form with its policy's size limit rewritten (and the signature kept)."""
        ...

    def retarget(self, url: str, key: str) -> str:
        """The same signed download URL pointed at another key (and the signature kept)."""
        ...


class LocalRouteClient:
    """What the media function's upload/download routes do with a ``LocalBlobStore``."""

    signature_field = "signature"

    def __init__(self, store: LocalBlobStore) -> None:
        self.local = store

    @property
    def store(self) -> BlobStore:
        return self.local

    async def upload(
        self, target: UploadTarget, data: bytes, fields: Mapping[str, str] | None = None
    ) -> Outcome:
        form = dict(fields if fields is not None else target.fields)
        try:
            await self.local.accept_upload(form, _chunks(data), target.content_type)
        except PayloadTooLarge:
            return "too_large"
        except InvalidInput as exc:
            assert exc.code == "empty_upload"
            return "too_small"
        except Forbidden as exc:
            return "expired" if exc.code == "upload_expired" else "denied"
        return "stored"

    async def download(self, url: str) -> Download | Outcome:
        assert url.startswith(f"{PUBLIC_URL}/api/v1/blobs/download?")
        try:
            path, filename, content_type = self.local.resolve_download(_token(url))
        except Forbidden as exc:
            return "expired" if exc.code == "download_expired" else "denied"
        except NotFound:
            return "not_found"
        return Download(path.read_bytes(), content_type, content_disposition(filename))

    def raise_policy_limit(self, fields: Mapping[str, str], max_bytes: int) -> dict[str, str]:
        encoded = fields["policy"]
        policy = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        policy["max_bytes"] = max_bytes
        return {**fields, "policy": _b64url(json.dumps(policy).encode())}

    def retarget(self, url: str, key: str) -> str:
        payload, _, signature = _token(url).partition(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["key"] = key
        forged = f"{_b64url(json.dumps(claims).encode())}.{signature}"
        return f"{PUBLIC_URL}/api/v1/blobs/download?token={forged}"


class S3FormClient:
    """A browser talking to S3 (SeaweedFS here): form POSTs and GETs over HTTP."""

    signature_field = "x-amz-signature"

    def __init__(self, store: S3BlobStore, http: httpx.AsyncClient) -> None:
        self.s3 = store
        self._http = http

    @property
    def store(self) -> BlobStore:
        return self.s3

    async def upload(
        self, target: UploadTarget, data: bytes, fields: Mapping[str, str] | None = None
    ) -> Outcome:
        form = dict(fields if fields is not None else target.fields)
        # httpx sends data fields before files: S3 ignores every field after the file.
        response = await self._http.post(
            target.url, data=form, files={"file": ("upload.bin", data, target.content_type)}
        )
        if response.status_code in (200, 201, 204):
            return "stored"
        return _s3_outcome(response)

    async def download(self, url: str) -> Download | Outcome:
        response = await self._http.get(url)
        if response.status_code != 200:
            return _s3_outcome(response)
        return Download(
            response.content,
            response.headers["content-type"],
            response.headers["content-disposition"],
        )

    def raise_policy_limit(self, fields: Mapping[str, str], max_bytes: int) -> dict[str, str]:
        policy = json.loads(base64.b64decode(fields["policy"]))
        for condition in policy["conditions"]:
            if isinstance(condition, list) and condition[0] == "content-length-range":
                condition[2] = max_bytes
        return {**fields, "policy": base64.b64encode(json.dumps(policy).encode()).decode()}

    def retarget(self, url: str, key: str) -> str:
        parts = urlsplit(url)
        bucket = parts.path.strip("/").split("/", 1)[0]
        return parts._replace(path=f"/{bucket}/{quote(key)}").geturl()


def _s3_outcome(response: httpx.Response) -> Outcome:
    """Name an S3 error response the way ``LocalRouteClient`` names the local store's errors."""
    root = ElementTree.fromstring(response.content)  # noqa: S314 - our own test server
    code, message = root.findtext("Code", ""), root.findtext("Message", "")
    if code == "EntityTooLarge":
        return "too_large"
    if code == "EntityTooSmall":
        return "too_small"
    if code == "NoSuchKey":
        return "not_found"
    if code in ("AccessDenied", "SignatureDoesNotMatch") and "expired" in message.lower():
        return "expired"
    assert response.status_code == 403, (response.status_code, code, message)
    return "denied"


def _token(url: str) -> str:
    """The token of a local download URL."""
    return parse_qs(urlsplit(url).query)["token"][0]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _s3_store(config: S3Config, **overrides: str) -> S3BlobStore:
    settings = {
        "bucket": config.bucket,
        "region": config.region,
        "endpoint_url": config.endpoint_url,
        "access_key": config.access_key,
        "secret_key": config.secret_key,
    }
    return S3BlobStore(**(settings | overrides))


@pytest.fixture(params=["local", "s3"])
async def client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[LocalRouteClient | S3FormClient]:
    if request.param == "local":
        local = LocalBlobStore(tmp_path / "blobs", SIGNING_KEY, PUBLIC_URL)
        yield LocalRouteClient(local)
        await local.aclose()
        return
    # Looked up lazily so the local half runs even where SeaweedFS cannot start.
    config: S3Config = request.getfixturevalue("s3_config")
    s3 = _s3_store(config)
    async with httpx.AsyncClient(timeout=30) as http:
        yield S3FormClient(s3, http)
    await s3.aclose()


@pytest.fixture
def key() -> Key:
    """Keys under a prefix unique to this test, so tests sharing a bucket never collide."""
    prefix = f"contract/{uuid.uuid4().hex}/"
    return lambda name: prefix + name


class TestBlobStoreContract:
    async def test_put_get_head_delete_round_trip(self, client: StoreClient, key: Key) -> None:
        store, name = client.store, key("rooms/r1/chat/photo.png")
        await store.put(name, b"\x89PNG data", "image/png")

        assert await store.get(name) == b"\x89PNG data"
        info = await store.head(name)
        assert info is not None
        assert (info.key, info.size, info.content_type) == (name, 9, "image/png")

        await store.delete(name)
        assert await store.head(name) is None
        with pytest.raises(NotFound):
            await store.get(name)

    async def test_a_large_local_file_is_stored_whole(
        self, client: StoreClient, key: Key, tmp_path: Path
    ) -> None:
        # 12 MiB: above boto3's multipart threshold (8 MiB), so S3 takes it in parts.
        data = os.urandom(12 * 1024 * 1024)
        source = tmp_path / "track.mkv"
        source.write_bytes(data)
        await client.store.upload_from(key("track.mkv"), source, "video/x-matroska")
        info = await client.store.head(key("track.mkv"))
        assert info is not None
        assert (info.size, info.content_type) == (len(data), "video/x-matroska")
        copy = tmp_path / "copy.mkv"
        await client.store.download_to(key("track.mkv"), copy)
        assert copy.read_bytes() == data

    async def test_put_overwrites_bytes_and_content_type(
        self, client: StoreClient, key: Key
    ) -> None:
        store = client.store
        await store.put(key("a"), b"first", "text/plain")
        await store.put(key("a"), b"second version", "application/json")
        assert await store.get(key("a")) == b"second version"
        info = await store.head(key("a"))
        assert info is not None
        assert (info.size, info.content_type) == (14, "application/json")

    async def test_keys_sharing_a_prefix_are_independent(
        self, client: StoreClient, key: Key
    ) -> None:
        store = client.store
        await store.put(key("a/b/one"), b"1", "text/plain")
        await store.put(key("a/b/two"), b"22", "text/plain")
        await store.delete(key("a/b/one"))
        assert await store.get(key("a/b/two")) == b"22"
        # A "folder" of other keys is not an object itself.
        assert await store.head(key("a/b")) is None
        with pytest.raises(NotFound):
            await store.get(key("a/b"))

    async def test_missing_objects(self, client: StoreClient, key: Key, tmp_path: Path) -> None:
        store = client.store
        assert await store.head(key("missing")) is None
        with pytest.raises(NotFound):
            await store.get(key("missing"))
        with pytest.raises(NotFound):
            await store.download_to(key("missing"), tmp_path / "out.bin")
        assert not (tmp_path / "out.bin").exists()
        await store.delete(key("missing"))  # not an error

    async def test_download_to_copies_the_object(
        self, client: StoreClient, key: Key, tmp_path: Path
    ) -> None:
        data = os.urandom(300_000)
        await client.store.put(key("recordings/r1.webm"), data, "video/webm")
        target = tmp_path / "copy.webm"
        await client.store.download_to(key("recordings/r1.webm"), target)
        assert target.read_bytes() == data

    @pytest.mark.parametrize(
        "bad_key",
        ["", "/abs", "a/../b", "..", "./a", "a//b", "a/", "a\\b", "a\x00b", "a\nb", "k" * 1025],
    )
    async def test_unsafe_keys_are_refused(self, client: StoreClient, bad_key: str) -> None:
        store = client.store
        with pytest.raises(InvalidInput):
            await store.put(bad_key, b"x", "text/plain")
        with pytest.raises(InvalidInput):
            await store.head(bad_key)
        with pytest.raises(InvalidInput):
            await store.upload_target(
                bad_key, content_type="image/png", max_bytes=10, expires_in=60
            )

    async def test_ping(self, client: StoreClient) -> None:
        await client.store.ping()

    # -- signed uploads

    async def test_signed_upload_within_the_limit_is_stored(
        self, client: StoreClient, key: Key
    ) -> None:
        target = await client.store.upload_target(
            key("up/ok.png"), content_type="image/png", max_bytes=10, expires_in=60
        )
        assert (target.method, target.max_bytes, target.content_type) == ("POST", 10, "image/png")
        assert target.fields["key"] == key("up/ok.png")
        assert target.fields["Content-Type"] == "image/png"

        assert await client.upload(target, b"0123456789") == "stored"  # exactly the limit
        info = await client.store.head(key("up/ok.png"))
        assert info is not None
        assert (info.size, info.content_type) == (10, "image/png")
        assert await client.store.get(key("up/ok.png")) == b"0123456789"

    async def test_signed_upload_over_the_limit_is_refused(
        self, client: StoreClient, key: Key
    ) -> None:
        target = await client.store.upload_target(
            key("up/big.png"), content_type="image/png", max_bytes=10, expires_in=60
        )
        assert await client.upload(target, b"0123456789A") == "too_large"
        assert await client.store.head(key("up/big.png")) is None

    async def test_empty_signed_upload_is_refused(self, client: StoreClient, key: Key) -> None:
        target = await client.store.upload_target(
            key("up/empty.png"), content_type="image/png", max_bytes=10, expires_in=60
        )
        assert await client.upload(target, b"") == "too_small"
        assert await client.store.head(key("up/empty.png")) is None

    async def test_signed_upload_with_another_content_type_is_refused(
        self, client: StoreClient, key: Key
    ) -> None:
        target = await client.store.upload_target(
            key("up/ct.png"), content_type="image/png", max_bytes=10, expires_in=60
        )
        fields = {**target.fields, "Content-Type": "text/html"}
        assert await client.upload(target, b"<script>", fields) == "denied"
        assert await client.store.head(key("up/ct.png")) is None

    async def test_signed_upload_to_another_key_is_refused(
        self, client: StoreClient, key: Key
    ) -> None:
        target = await client.store.upload_target(
            key("up/mine.png"), content_type="image/png", max_bytes=10, expires_in=60
        )
        fields = {**target.fields, "key": key("up/theirs.png")}
        assert await client.upload(target, b"12345", fields) == "denied"
        assert await client.store.head(key("up/theirs.png")) is None
        assert await client.store.head(key("up/mine.png")) is None

    async def test_tampered_policy_is_refused(self, client: StoreClient, key: Key) -> None:
        target = await client.store.upload_target(
            key("up/tamper.png"), content_type="image/png", max_bytes=10, expires_in=60
        )
        fields = client.raise_policy_limit(target.fields, 1_000_000)
        assert await client.upload(target, b"x" * 100, fields) == "denied"
        assert await client.store.head(key("up/tamper.png")) is None

    async def test_tampered_signature_is_refused(self, client: StoreClient, key: Key) -> None:
        target = await client.store.upload_target(
            key("up/sig.png"), content_type="image/png", max_bytes=10, expires_in=60
        )
        signature = target.fields[client.signature_field]
        forged = ("A" if signature[0] != "A" else "B") + signature[1:]
        fields = {**target.fields, client.signature_field: forged}
        assert await client.upload(target, b"12345", fields) == "denied"
        assert await client.store.head(key("up/sig.png")) is None

    async def test_a_form_writes_only_its_own_key_however_often_it_is_posted(
        self, client: StoreClient, key: Key, tmp_path: Path
    ) -> None:
        """What verified uploads rely on: a copy stored under another key (a *final* key no
        form names) keeps the bytes it was made from while the form is posted again."""
        upload, final = key("uploads/u1"), key("media/u1/v1")
        target = await client.store.upload_target(
            upload, content_type="image/png", max_bytes=32, expires_in=60
        )
        assert await client.upload(target, b"verified bytes") == "stored"
        verified = tmp_path / "verified"
        await client.store.download_to(upload, verified)
        await client.store.upload_from(final, verified, "image/png")

        # The form is valid for its lifetime: a second post replaces the upload key only.
        assert await client.upload(target, b"<script>replaced</script>") == "stored"
        assert await client.store.get(upload) == b"<script>replaced</script>"
        assert await client.store.get(final) == b"verified bytes"
        # Nor can the form be pointed at the final key.
        retargeted = {**target.fields, "key": final}
        assert await client.upload(target, b"<script>", retargeted) == "denied"
        url = await client.store.download_url(
            final, filename="slide.png", content_type="image/png", expires_in=60
        )
        download = await client.download(url)
        assert isinstance(download, Download) and download.body == b"verified bytes"

    # -- signed downloads

    @pytest.mark.parametrize("content_type", ["text/html", "image/svg+xml", "application/xml"])
    async def test_active_content_is_served_as_an_attachment(
        self, client: StoreClient, key: Key, content_type: str
    ) -> None:
        await client.store.put(key("page"), b"<html><script>alert(1)</script>", content_type)
        url = await client.store.download_url(
            key("page"), filename="page.html", content_type=content_type, expires_in=60
        )
        download = await client.download(url)
        assert isinstance(download, Download)
        assert download.disposition.startswith('attachment; filename="page.html";')

    async def test_download_url_serves_the_object_as_a_named_attachment(
        self, client: StoreClient, key: Key
    ) -> None:
        await client.store.put(key("files/f1"), b"%PDF-1.7 data", "application/pdf")
        url = await client.store.download_url(
            key("files/f1"),
            filename='Résumé "final" 2024.pdf',
            content_type="application/pdf",
            expires_in=60,
        )
        download = await client.download(url)
        assert isinstance(download, Download)
        assert download.body == b"%PDF-1.7 data"
        assert download.content_type == "application/pdf"
        assert download.disposition == content_disposition('Résumé "final" 2024.pdf')
        assert download.disposition.startswith('attachment; filename="Resume _final_ 2024.pdf";')

    async def test_download_url_of_a_missing_object_is_not_found(
        self, client: StoreClient, key: Key
    ) -> None:
        url = await client.store.download_url(
            key("gone"), filename="gone.txt", content_type="text/plain", expires_in=60
        )
        assert await client.download(url) == "not_found"

    async def test_tampered_download_url_is_refused(self, client: StoreClient, key: Key) -> None:
        await client.store.put(key("secret"), b"s", "text/plain")
        await client.store.put(key("public"), b"p", "text/plain")
        url = await client.store.download_url(
            key("public"), filename="p.txt", content_type="text/plain", expires_in=60
        )
        assert await client.download(client.retarget(url, key("secret"))) == "denied"

    async def test_expired_upload_form_and_download_url_are_refused(
        self, client: StoreClient, key: Key
    ) -> None:
        await client.store.put(key("old"), b"old", "text/plain")
        target = await client.store.upload_target(
            key("late.png"), content_type="image/png", max_bytes=10, expires_in=1
        )
        url = await client.store.download_url(
            key("old"), filename="old.txt", content_type="text/plain", expires_in=1
        )
        await asyncio.sleep(2.2)  # expiry is checked with one-second resolution
        assert await client.upload(target, b"12345") == "expired"
        assert await client.store.head(key("late.png")) is None
        assert await client.download(url) == "expired"

    async def test_signing_limits_are_enforced(self, client: StoreClient, key: Key) -> None:
        with pytest.raises(ValueError):
            await client.store.upload_target(
                key("x"), content_type="image/png", max_bytes=0, expires_in=60
            )
        with pytest.raises(ValueError):
            await client.store.download_url(
                key("x"), filename="x", content_type="text/plain", expires_in=8 * 24 * 3600
            )
        with pytest.raises(InvalidInput):
            await client.store.upload_target(
                key("x"), content_type="image/png\r\nX-Evil: 1", max_bytes=10, expires_in=60
            )


# -- local adapter only


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", SIGNING_KEY, PUBLIC_URL)


class TestLocalBlobStore:
    async def test_urls_point_at_the_media_function(self, local: LocalBlobStore) -> None:
        target = await local.upload_target(
            "a/b.png", content_type="image/png", max_bytes=5, expires_in=60
        )
        assert target.url == "http://media.test/api/v1/blobs/upload"
        assert set(target.fields) == {"key", "Content-Type", "policy", "signature"}
        url = await local.download_url(
            "a/b.png", filename="b.png", content_type="image/png", expires_in=60
        )
        assert url.startswith("http://media.test/api/v1/blobs/download?token=")

    async def test_oversize_upload_stops_reading_and_leaves_no_temp_file(
        self, local: LocalBlobStore, tmp_path: Path
    ) -> None:
        target = await local.upload_target(
            "big.bin", content_type="video/mp4", max_bytes=10, expires_in=60
        )
        consumed = 0

        async def endless() -> AsyncIterator[bytes]:
            nonlocal consumed
            while True:
                consumed += 1
                yield b"1234"

        with pytest.raises(PayloadTooLarge):
            await local.accept_upload(target.fields, endless(), "video/mp4")
        assert consumed == 3  # 12 bytes: refused on the chunk that crossed 10
        assert list((tmp_path / "blobs" / "tmp").iterdir()) == []
        assert await local.head("big.bin") is None

    async def test_file_part_type_must_agree_with_the_form_when_stated(
        self, local: LocalBlobStore
    ) -> None:
        target = await local.upload_target(
            "p.png", content_type="image/png", max_bytes=10, expires_in=60
        )
        with pytest.raises(UnsupportedMediaType) as caught:
            await local.accept_upload(target.fields, _chunks(b"abc"), "text/html")
        assert caught.value.code == "content_type_mismatch"
        # Browsers say octet-stream (or nothing) when they do not know; parameters are ignored.
        for part_type in ("application/octet-stream", None, "IMAGE/PNG; charset=binary"):
            info = await local.accept_upload(target.fields, _chunks(b"abc"), part_type)
            assert (info.size, info.content_type) == (3, "image/png")

    async def test_bad_signatures_have_clear_codes(self, local: LocalBlobStore) -> None:
        target = await local.upload_target(
            "p.png", content_type="image/png", max_bytes=10, expires_in=60
        )
        for fields in (
            {k: v for k, v in target.fields.items() if k != "signature"},
            {**target.fields, "signature": "not-base64!"},
            {**target.fields, "policy": target.fields["policy"] + "x"},
        ):
            with pytest.raises(Forbidden) as caught:
                await local.accept_upload(fields, _chunks(b"abc"), None)
            assert caught.value.code == "invalid_signature"
        with pytest.raises(Forbidden) as caught:
            await local.accept_upload({**target.fields, "key": "q.png"}, _chunks(b"a"), None)
        assert caught.value.code == "policy_condition_failed"

    async def test_tokens_are_not_interchangeable(self, local: LocalBlobStore) -> None:
        await local.put("a.txt", b"a", "text/plain")
        target = await local.upload_target(
            "a.txt", content_type="text/plain", max_bytes=10, expires_in=60
        )
        # An upload policy (validly signed, for another purpose) is not a download token.
        with pytest.raises(Forbidden):
            local.resolve_download(f"{target.fields['policy']}.{target.fields['signature']}")
        for garbage in ("", ".", "abc", "abc.def", "ü.ü"):
            with pytest.raises(Forbidden):
                local.resolve_download(garbage)
        other = LocalBlobStore(local.root, b"another-signing-key-0123456789", PUBLIC_URL)
        url = await other.download_url(
            "a.txt", filename="a.txt", content_type="text/plain", expires_in=60
        )
        with pytest.raises(Forbidden):
            local.resolve_download(_token(url))

    async def test_objects_are_files_with_a_sidecar(
        self, local: LocalBlobStore, tmp_path: Path
    ) -> None:
        await local.put("rooms/r1/a.png", b"png", "image/png")
        assert (tmp_path / "blobs" / "objects" / "rooms" / "r1" / "a.png").read_bytes() == b"png"
        meta = json.loads((tmp_path / "blobs" / "meta" / "rooms" / "r1" / "a.png").read_text())
        assert meta == {"content_type": "image/png"}
        url = await local.download_url(
            "rooms/r1/a.png", filename="a.png", content_type="image/png", expires_in=60
        )
        path, filename, content_type = local.resolve_download(_token(url))
        assert (path.read_bytes(), filename, content_type) == (b"png", "a.png", "image/png")

    async def test_a_key_cannot_be_both_object_and_folder(self, local: LocalBlobStore) -> None:
        await local.put("a/b", b"1", "text/plain")
        with pytest.raises(MeetingError) as caught:
            await local.put("a/b/c", b"2", "text/plain")
        assert caught.value.code == "blob_key_conflict"
        assert await local.get("a/b") == b"1"

    async def test_ping_fails_when_the_directory_is_unusable(
        self, local: LocalBlobStore, tmp_path: Path
    ) -> None:
        (tmp_path / "blobs" / "tmp").rmdir()
        (tmp_path / "blobs" / "tmp").write_text("not a directory")
        with pytest.raises(Unavailable):
            await local.ping()

    def test_short_signing_keys_are_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            LocalBlobStore(tmp_path, b"short", PUBLIC_URL)


# -- S3 adapter only


class TestS3BlobStore:
    async def test_presigned_urls_use_the_public_endpoint(self, s3_config: S3Config) -> None:
        # Same server, other host name: what a browser outside the container network sees.
        public = s3_config.endpoint_url.replace("127.0.0.1", "localhost")
        store = _s3_store(s3_config, public_endpoint_url=public)
        key = f"contract/{uuid.uuid4().hex}/public.png"
        try:
            target = await store.upload_target(
                key, content_type="image/png", max_bytes=10, expires_in=60
            )
            assert target.url.startswith(public)
            async with httpx.AsyncClient(timeout=30) as http:
                response = await http.post(
                    target.url, data=target.fields, files={"file": ("f", b"12345", "image/png")}
                )
                assert response.status_code == 204, response.text
                url = await store.download_url(
                    key, filename="p.png", content_type="image/png", expires_in=60
                )
                assert url.startswith(public)
                assert (await http.get(url)).content == b"12345"
        finally:
            await store.delete(key)
            await store.aclose()

    async def test_ensure_bucket_creates_it_once(self, s3_config: S3Config) -> None:
        store = _s3_store(s3_config, bucket=f"contract-{uuid.uuid4().hex[:12]}")
        try:
            with pytest.raises(Unavailable):
                await store.ping()
            await store.ensure_bucket()
            await store.ensure_bucket()
            await store.ping()
        finally:
            await store.aclose()

    async def test_unreachable_endpoint_is_unavailable(self) -> None:
        store = S3BlobStore(
            bucket="b", endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b" * 20
        )
        try:
            started = time.monotonic()
            with pytest.raises(Unavailable):
                await store.ping()
            assert time.monotonic() - started < 2  # a health check must not retry for long
            with pytest.raises(Unavailable):
                await store.get("k")
        finally:
            await store.aclose()

    async def test_wrong_credentials_are_not_reported_as_missing(self, s3_config: S3Config) -> None:
        store = _s3_store(s3_config, secret_key="wrong-secret-key-0123456789")
        try:
            with pytest.raises(Unavailable):
                await store.ping()
            with pytest.raises(MeetingError) as caught:
                await store.get("anything")
            assert not isinstance(caught.value, NotFound)
        finally:
            await store.aclose()
