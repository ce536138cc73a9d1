"""The embedded blob store: objects as files under one directory.

Clients still upload and download over HTTP with signed, expiring URLs, served by the media
function: an upload form carries an S3-style POST policy signed with HMAC-SHA256 (``accept_upload``
enforces it) and a download URL carries a signed token (``resolve_download`` checks it).

Layout under ``root``: ``objects/<key>`` holds the bytes, ``meta/<key>`` a JSON sidecar with the
content type, ``tmp/`` files being written (moved into place with an atomic rename).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

from meeting_shared.blobs.port import (
    BlobInfo,
    UploadTarget,
    check_content_type,
    check_key,
    check_signing_limits,
)
from meeting_shared.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
)

logger = logging.getLogger(__name__)

UPLOAD_PATH = "/api/v1/blobs/upload"
DOWNLOAD_PATH = "/api/v1/blobs/download"
MIN_SIGNING_KEY_BYTES = 16
STALE_TEMP_SECONDS = 24 * 3600
# Distinct HMAC purposes, so an upload policy can never be replayed as a download token.
_UPLOAD_PURPOSE = b"meeting-blob-upload-policy"
_DOWNLOAD_PURPOSE = b"meeting-blob-download-token"
# What a browser sends as a file part's type when it does not know it: says nothing.
_UNSTATED_TYPES = frozenset({"", "application/octet-stream"})


@dataclass(frozen=True, slots=True)
class _UploadPolicy:
    key: str
    content_type: str
    max_bytes: int
    expires: int


class LocalBlobStore:
    """``BlobStore`` on the local file system, for embedded (single-machine) deployments."""

    def __init__(self, root: Path, signing_key: bytes, public_url: str) -> None:
        if len(signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(f"signing_key must be at least {MIN_SIGNING_KEY_BYTES} bytes")
        self.root = root
        self._signing_key = signing_key
        self._public_url = public_url.rstrip("/")
        self._objects = root / "objects"
        self._meta = root / "meta"
        self._tmp = root / "tmp"
        for folder in (self._objects, self._meta, self._tmp):
            folder.mkdir(parents=True, exist_ok=True)
        self._sweep_stale_temp_files()

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        check_key(key)
        check_content_type(content_type)
        await asyncio.to_thread(self._put, key, data, content_type)

    async def upload_from(self, key: str, path: Path, content_type: str) -> None:
        check_key(key)
        check_content_type(content_type)

        def copy() -> None:
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
            tmp = Path(name)
            try:
                with os.fdopen(fd, "wb") as writer, path.open("rb") as reader:
                    shutil.copyfileobj(reader, writer, 1024 * 1024)
                    _sync(writer)
                self._commit(tmp, key, content_type)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

        await asyncio.to_thread(copy)

    async def get(self, key: str) -> bytes:
        """The whole object; raises ``NotFound`` when absent."""
        path = self._object_path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound("blob not found") from exc

    async def download_to(self, key: str, path: Path) -> None:
        """Copy an object to a local file; raises ``NotFound`` when absent."""
        source = self._object_path(key)

        def copy() -> None:
            try:
                reader = source.open("rb")
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
                raise NotFound("blob not found") from exc
            with reader, path.open("wb") as writer:
                shutil.copyfileobj(reader, writer, 1024 * 1024)

        await asyncio.to_thread(copy)

    async def head(self, key: str) -> BlobInfo | None:
        return await asyncio.to_thread(self._head, key)

    async def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""
        check_key(key)

        def remove() -> None:
            for path in (self._object_path(key), self._meta_path(key)):
                # A key that is only a "folder" of other keys counts as missing.
                with contextlib.suppress(IsADirectoryError, NotADirectoryError):
                    path.unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def upload_target(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int
    ) -> UploadTarget:
        """A form for ``POST {public_url}/api/v1/blobs/upload`` carrying a signed policy."""
        check_key(key)
        check_content_type(content_type)
        check_signing_limits(expires_in=expires_in, max_bytes=max_bytes)
        policy = _encode_json(
            {
                "key": key,
                "content_type": content_type,
                "max_bytes": max_bytes,
                "expires": int(time.time()) + expires_in,
            }
        )
        return UploadTarget(
            url=self._public_url + UPLOAD_PATH,
            fields={
                "key": key,
                "Content-Type": content_type,
                "policy": policy,
                "signature": self._sign(_UPLOAD_PURPOSE, policy),
            },
            expires_in=expires_in,
            max_bytes=max_bytes,
            content_type=content_type,
        )

    async def accept_upload(
        self,
        fields: Mapping[str, str],
        chunks: AsyncIterator[bytes],
        content_type: str | None,
    ) -> BlobInfo:
        """Store one upload made with a form from ``upload_target``.

        ``fields`` are the form fields before the file, ``chunks`` the file's bytes and
        ``content_type`` the file part's own header (checked only when it says something).
        Raises ``Forbidden`` (codes ``invalid_signature``, ``upload_expired``,
        ``policy_condition_failed``), ``PayloadTooLarge`` as soon as the policy's limit is
        passed, ``InvalidInput`` for an empty file and ``UnsupportedMediaType`` when the file
        part's type contradicts the policy. Nothing is stored unless the whole upload is accepted.
        """
        policy = self._verified_policy(fields)
        part_type = (content_type or "").split(";", 1)[0].strip().lower()
        if part_type not in _UNSTATED_TYPES and part_type != policy.content_type:
            raise UnsupportedMediaType(
                "the file's content type does not match the upload form",
                code="content_type_mismatch",
            )
        fd, tmp_name = await asyncio.to_thread(tempfile.mkstemp, dir=self._tmp, prefix="upload-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as file:
                size = await _write_limited(chunks, file, policy.max_bytes)
                await asyncio.to_thread(_sync, file)
            if size == 0:
                raise InvalidInput("the uploaded file is empty", field="file", code="empty_upload")
            await asyncio.to_thread(self._commit, tmp, policy.key, policy.content_type)
        except BaseException:
            # Synchronous on purpose: it must also run when the task is being cancelled.
            tmp.unlink(missing_ok=True)  # noqa: ASYNC240
            raise
        return BlobInfo(key=policy.key, size=size, content_type=policy.content_type)

    async def download_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str:
        """``{public_url}/api/v1/blobs/download?token=...`` for ``expires_in`` seconds."""
        check_key(key)
        check_content_type(content_type)
        check_signing_limits(expires_in=expires_in)
        payload = _encode_json(
            {
                "key": key,
                "filename": filename,
                "content_type": content_type,
                "expires": int(time.time()) + expires_in,
            }
        )
        token = f"{payload}.{self._sign(_DOWNLOAD_PURPOSE, payload)}"
        return f"{self._public_url}{DOWNLOAD_PATH}?{urlencode({'token': token})}"

    def resolve_download(self, token: str) -> tuple[Path, str, str]:
        """The (file, filename, content type) a download token grants.

        Raises ``Forbidden`` (``invalid_signature`` or ``download_expired``) or ``NotFound``.
        The route serves the file with ``content_disposition(filename)``.
        """
        payload, _, signature = token.partition(".")
        claims = self._verified_claims(_DOWNLOAD_PURPOSE, payload, signature)
        key, filename, content_type, expires = (
            claims.get("key"),
            claims.get("filename"),
            claims.get("content_type"),
            claims.get("expires"),
        )
        if not (
            isinstance(key, str)
            and isinstance(filename, str)
            and isinstance(content_type, str)
            and isinstance(expires, int)
        ):
            raise _invalid_signature()
        if time.time() > expires:
            raise Forbidden("the download link has expired", code="download_expired")
        path = self._object_path(key)
        if not path.is_file():
            raise NotFound("blob not found")
        return path, filename, content_type

    async def ping(self) -> None:
        """Raise ``Unavailable`` unless a file can be created under the root."""

        def probe() -> None:
            with tempfile.TemporaryFile(dir=self._tmp):
                pass

        try:
            await asyncio.to_thread(probe)
        except OSError as exc:
            raise Unavailable("blob directory is not writable") from exc

    async def aclose(self) -> None:
        """Nothing to release: every operation opens and closes its own files."""

    # -- files

    def _object_path(self, key: str) -> Path:
        return self._objects.joinpath(*check_key(key).split("/"))

    def _meta_path(self, key: str) -> Path:
        return self._meta.joinpath(*check_key(key).split("/"))

    def _head(self, key: str) -> BlobInfo | None:
        try:
            status = self._object_path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(status.st_mode):  # a "folder" of other keys
            return None
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
        except (OSError, ValueError):
            meta = {}
        content_type = meta.get("content_type") if isinstance(meta, dict) else None
        return BlobInfo(
            key=key,
            size=status.st_size,
            content_type=content_type if isinstance(content_type, str) else None,
        )

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        tmp = self._write_temp(data)
        try:
            self._commit(tmp, key, content_type)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _write_temp(self, data: bytes) -> Path:
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                _sync(file)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def _commit(self, tmp: Path, key: str, content_type: str) -> None:
        """Move a finished temp file into place, sidecar first (each rename is atomic)."""
        data_path, meta_path = self._object_path(key), self._meta_path(key)
        meta_tmp = self._write_temp(json.dumps({"content_type": content_type}).encode())
        try:
            data_path.parent.mkdir(parents=True, exist_ok=True)
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(meta_tmp, meta_path)
            os.replace(tmp, data_path)
        except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
            meta_tmp.unlink(missing_ok=True)
            # S3 allows both "a" and "a/b"; a file system cannot.
            raise Conflict(
                "blob key collides with another key's folder", code="blob_key_conflict"
            ) from exc

    def _sweep_stale_temp_files(self) -> None:
        """Remove temp files left by a crash (old enough that no live writer owns them)."""
        cutoff = time.time() - STALE_TEMP_SECONDS
        for path in self._tmp.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                logger.debug("could not sweep a stale temp file", exc_info=True)

    # -- signing

    def _sign(self, purpose: bytes, payload: str) -> str:
        mac = hmac.new(self._signing_key, purpose + b"\n" + payload.encode(), hashlib.sha256)
        return _b64encode(mac.digest())

    def _verified_claims(self, purpose: bytes, payload: str, signature: str) -> dict[str, Any]:
        expected = self._sign(purpose, payload)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise _invalid_signature()
        try:
            claims = json.loads(_b64decode(payload))
        except (ValueError, binascii.Error) as exc:
            raise _invalid_signature() from exc
        if not isinstance(claims, dict):
            raise _invalid_signature()
        return claims

    def _verified_policy(self, fields: Mapping[str, str]) -> _UploadPolicy:
        claims = self._verified_claims(
            _UPLOAD_PURPOSE, fields.get("policy", ""), fields.get("signature", "")
        )
        try:
            policy = _UploadPolicy(
                key=str(claims["key"]),
                content_type=str(claims["content_type"]),
                max_bytes=int(claims["max_bytes"]),
                expires=int(claims["expires"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _invalid_signature() from exc
        if time.time() > policy.expires:
            raise Forbidden("the upload form has expired", code="upload_expired")
        if fields.get("key") != policy.key or fields.get("Content-Type") != policy.content_type:
            raise Forbidden(
                "the form's key or Content-Type differs from its policy",
                code="policy_condition_failed",
            )
        return policy


async def _write_limited(chunks: AsyncIterator[bytes], file: IO[bytes], max_bytes: int) -> int:
    """Write ``chunks`` to ``file``, raising ``PayloadTooLarge`` once ``max_bytes`` is passed."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"the upload exceeds its limit of {max_bytes} bytes")
        if chunk:
            await asyncio.to_thread(file.write, chunk)
    return size


def _sync(file: IO[bytes]) -> None:
    """Flush and fsync, so a rename never publishes a file whose bytes are still in flight."""
    file.flush()
    os.fsync(file.fileno())


def _invalid_signature() -> Forbidden:
    return Forbidden("the signature is missing or invalid", code="invalid_signature")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode_json(claims: dict[str, Any]) -> str:
    return _b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
