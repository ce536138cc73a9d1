"""The blob-store port.

Embedded mode stores objects in a local directory; production stores them in S3 (SeaweedFS in
tests). Clients upload and download directly with signed URLs in both modes, so browser code is
identical: S3 presigned POST policies in production, and HMAC-signed URLs served by the media
function when embedded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from meeting_shared.errors import InvalidInput

MAX_KEY_BYTES = 1024  # S3's limit, applied to every adapter so keys behave the same everywhere
MAX_SIGNED_SECONDS = 7 * 24 * 3600  # SigV4's limit on presigned URLs, applied to every adapter
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_UNSAFE_FALLBACK = re.compile(r"[^A-Za-z0-9 ._()+-]")
_ATTR_CHAR = "!#$&+-.^_`|~"  # RFC 5987 attr-char punctuation, sent unescaped
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Should a browser render a download anyway, nothing in it may run or load.
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
"""Headers served with every download besides its type and ``content_disposition`` (where the
server can add headers: the embedded store's route; S3 serves presigned GETs itself)."""


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where and how a client uploads one object: an HTML-form style multipart POST.

    The client sends every entry of ``fields`` as form fields, then the file as the last field
    named ``file``. The store enforces ``max_bytes`` and ``content_type``.
    """

    url: str
    fields: dict[str, str]
    expires_in: int
    method: str = "POST"
    max_bytes: int = 0
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    content_type: str | None


class BlobStore(Protocol):
    """Objects addressed by ``/``-separated keys (see ``check_key``), each with a content type."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def upload_from(self, key: str, path: Path, content_type: str) -> None:
        """Store a local file (recordings: too big to hold in memory)."""
        ...

    async def get(self, key: str) -> bytes:
        """The whole object; raises ``NotFound`` when absent."""
        ...

    async def download_to(self, key: str, path: Path) -> None:
        """Copy an object to a local file (for ffprobe/ffmpeg); raises ``NotFound`` when absent."""
        ...

    async def head(self, key: str) -> BlobInfo | None: ...

    async def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""
        ...

    async def upload_target(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int
    ) -> UploadTarget:
        """A signed form that lets a client upload 1..``max_bytes`` bytes of ``content_type``."""
        ...

    async def download_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str:
        """A URL that serves the object directly (presigned in S3) for ``expires_in`` seconds."""
        ...

    async def ping(self) -> None:
        """Raise ``Unavailable`` when the store cannot be reached or written."""
        ...

    async def aclose(self) -> None: ...


AsyncBytes = AsyncIterator[bytes]


def check_key(key: str) -> str:
    """Return ``key`` if every adapter can store it safely; raise ``InvalidInput`` otherwise.

    Keys are relative ``/``-separated paths: no empty, ``.`` or ``..`` segments, no leading or
    trailing ``/``, no backslashes, NULs or other control characters.
    """
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidInput(f"blob key must be 1..{MAX_KEY_BYTES} bytes", field="key")
    if "\\" in key or any(unicodedata.category(char) == "Cc" for char in key):
        raise InvalidInput("blob key contains a backslash or control character", field="key")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidInput("blob key must be a relative path without '.' or '..'", field="key")
    return key


def check_content_type(content_type: str) -> str:
    """Return ``content_type`` if it is a bare lowercase ``type/subtype``; else ``InvalidInput``."""
    if not _CONTENT_TYPE.fullmatch(content_type):
        raise InvalidInput("content type must look like 'type/subtype'", field="content_type")
    return content_type


def check_signing_limits(*, expires_in: int, max_bytes: int = 1) -> None:
    """Refuse signed URLs that live too long (or not at all) and empty upload limits."""
    if max_bytes < 1:
        raise ValueError("max_bytes must be at least 1")
    if not 1 <= expires_in <= MAX_SIGNED_SECONDS:
        raise ValueError(f"expires_in must be 1..{MAX_SIGNED_SECONDS} seconds")


def content_disposition(filename: str) -> str:
    """An ``attachment`` Content-Disposition header value for ``filename`` (RFC 6266/5987).

    Old clients read the quoted ASCII fallback, current ones the UTF-8 ``filename*``. Path
    separators and control/format characters become ``_`` so a name cannot leave the download
    folder or hide its real extension (U+202E).
    """
    name = "".join(
        "_" if char in "/\\" or unicodedata.category(char).startswith("C") else char
        for char in unicodedata.normalize("NFC", filename)
    ).strip(" .")
    name = name or "download"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = _UNSAFE_FALLBACK.sub("_", ascii_name).strip()
    if not fallback or fallback.startswith("."):  # an all non-ASCII stem: keep the extension
        fallback = "download" + fallback
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe=_ATTR_CHAR)}"
