"""Signed upload/download URLs of the embedded (local-disk) blob store.

In production, clients upload to and download from S3 directly; these routes answer 404 there.
The upload is parsed as a stream so a file over the signed limit is refused as soon as it passes
the limit, without buffering it first.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from email.message import Message

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import FileResponse, Response
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from meeting_functions.http.deps import ContainerDep
from meeting_shared.blobs.local import LocalBlobStore
from meeting_shared.blobs.port import DOWNLOAD_HEADERS, content_disposition
from meeting_shared.errors import InvalidInput, MeetingError, NotFound

logger = logging.getLogger(__name__)

blobs = APIRouter(tags=["media"], include_in_schema=False)

MAX_FIELDS = 16
MAX_FIELD_BYTES = 8192
FILE_FIELD = "file"


class ClientClosedRequest(MeetingError):
    """The client went away before its request was read whole (nginx's 499): nobody gets the
    answer, but logs and metrics tell it apart from a server error."""

    status = 499
    code = "client_closed_request"
    title = "Client closed request"


def _local_store(container: ContainerDep) -> LocalBlobStore:
    store = container.blobs
    if not isinstance(store, LocalBlobStore):
        raise NotFound("Uploads go straight to object storage in this deployment")
    return store


class _MultipartForm:
    """Incremental multipart parsing: form fields first, then the file's bytes as they arrive."""

    def __init__(self, boundary: bytes) -> None:
        self.fields: dict[str, str] = {}
        self.file_started = False
        self.file_finished = False
        self.file_content_type: str | None = None
        self._pending: list[bytes] = []
        self._headers: dict[str, str] = {}
        self._header_name = b""
        self._header_value = b""
        self._name = ""
        self._value = bytearray()
        self._in_file = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def feed(self, chunk: bytes) -> None:
        self._parser.write(chunk)

    def take_file_bytes(self) -> list[bytes]:
        pending, self._pending = self._pending, []
        return pending

    def _part_begin(self) -> None:
        self._headers, self._name, self._value = {}, "", bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").lower()] = self._header_value.decode(
            "latin-1"
        )
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        message = Message()
        message["content-disposition"] = self._headers.get("content-disposition", "")
        self._name = str(message.get_param("name", header="content-disposition") or "")
        self._in_file = self._name == FILE_FIELD
        if self._in_file:
            if self.file_started:
                raise InvalidInput("Send exactly one file", field=FILE_FIELD, code="one_file_only")
            self.file_started = True
            self.file_content_type = self._headers.get("content-type")
        elif self.file_started:
            raise InvalidInput(
                "The file must be the last field", field=FILE_FIELD, code="file_not_last"
            )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pending.append(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise InvalidInput("A form field is too long", field=self._name, code="field_too_long")

    def _part_end(self) -> None:
        if self._in_file:
            self.file_finished = True
            return
        if len(self.fields) >= MAX_FIELDS:
            raise InvalidInput("Too many form fields", code="too_many_fields")
        self.fields[self._name] = self._value.decode("utf-8", errors="replace")


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput("Send the upload as multipart/form-data", code="multipart_required")
    return boundary


@blobs.post("/blobs/upload", status_code=status.HTTP_204_NO_CONTENT)
async def upload_blob(request: Request, container: ContainerDep) -> Response:
    """The embedded counterpart of an S3 presigned POST."""
    store = _local_store(container)
    form = _MultipartForm(_boundary(request))
    try:
        await _receive_upload(store, form, request)
    except ClientDisconnect as exc:  # the store has already dropped the partial file
        logger.info("upload aborted by the client")
        raise ClientClosedRequest("The client closed the connection during the upload") from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _receive_upload(store: LocalBlobStore, form: _MultipartForm, request: Request) -> None:
    body = request.stream()
    async for chunk in body:
        form.feed(chunk)
        if form.file_started:
            break
    if not form.file_started:
        raise InvalidInput("The form has no file field", field=FILE_FIELD, code="file_missing")

    async def file_bytes() -> AsyncIterator[bytes]:
        for piece in form.take_file_bytes():
            yield piece
        async for chunk in body:
            form.feed(chunk)
            for piece in form.take_file_bytes():
                yield piece
        if not form.file_finished:  # raised inside the store's write, so nothing is kept
            raise InvalidInput("The upload ended before the file did", code="truncated_upload")

    await store.accept_upload(form.fields, file_bytes(), form.file_content_type)


@blobs.get("/blobs/download")
async def download_blob(
    container: ContainerDep, token: str = Query(min_length=10, max_length=4096)
) -> FileResponse:
    path, filename, content_type = _local_store(container).resolve_download(token)
    # The same Content-Disposition S3 sends for presigned downloads; and since this is the
    # site's own origin, a browser must neither sniff the bytes nor run anything in them.
    return FileResponse(
        path,
        media_type=content_type,
        headers={"Content-Disposition": content_disposition(filename), **DOWNLOAD_HEADERS},
    )


ROUTERS = (blobs,)
