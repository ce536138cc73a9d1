"""The S3 blob store: AWS S3 in production, SeaweedFS (or any S3-compatible server) elsewhere.

boto3 is synchronous, so each call runs in a worker thread; the clients are built once and are
thread-safe. Clients upload with presigned POST policies and download with presigned GET URLs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from meeting_shared.blobs.port import (
    BlobInfo,
    UploadTarget,
    check_content_type,
    check_key,
    check_signing_limits,
    content_disposition,
)
from meeting_shared.errors import MeetingError, NotFound, Unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_BUCKET_EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


class S3BlobStore:
    """``BlobStore`` on one S3 bucket.

    ``endpoint_url`` None means AWS. ``access_key``/``secret_key`` None means boto3's default
    credential chain (an IAM role on Lambda). ``public_endpoint_url`` is the address clients use
    when it differs from the one this process uses (e.g. a container network name): presigned
    URLs are signed for the host that will receive them, so they need their own client.
    """

    def __init__(
        self,
        *,
        bucket: str,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        public_endpoint_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.region = region
        endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
        )
        config = Config(
            signature_version="s3v4",
            # SeaweedFS and most self-hosted servers only route path-style requests; AWS
            # prefers virtual-hosted ones.
            s3={"addressing_style": "path" if endpoint_url else "virtual"},
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            # botocore >= 1.36 adds CRC checksums to every upload by default, which several
            # S3-compatible servers reject; only send them where S3 requires them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: S3Client = session.client("s3", endpoint_url=endpoint_url, config=config)
        # Health checks answer quickly instead of retrying with backoff for seconds.
        self._pinger: S3Client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            config=config.merge(
                Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1})
            ),
        )
        self._presigner: S3Client = self._client
        if public_endpoint_url and public_endpoint_url.rstrip("/") != endpoint_url:
            self._presigner = session.client("s3", endpoint_url=public_endpoint_url, config=config)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        check_key(key)
        check_content_type(content_type)
        await self._call(
            self._client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
        )

    async def upload_from(self, key: str, path: Path, content_type: str) -> None:
        check_key(key)
        check_content_type(content_type)
        # upload_file switches to parallel multipart uploads for large files.
        await self._call(
            self._client.upload_file,
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type},
        )

    async def get(self, key: str) -> bytes:
        """The whole object; raises ``NotFound`` when absent."""
        check_key(key)

        def read() -> bytes:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
            with body:
                return body.read()

        return await self._call(read)

    async def download_to(self, key: str, path: Path) -> None:
        """Copy an object to a local file; raises ``NotFound`` when absent."""
        check_key(key)
        # download_file uses ranged parallel GETs for large objects and renames into place.
        await self._call(self._client.download_file, self.bucket, key, str(path))

    async def head(self, key: str) -> BlobInfo | None:
        check_key(key)
        try:
            response = await self._call(self._client.head_object, Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        return BlobInfo(
            key=key, size=response["ContentLength"], content_type=response.get("ContentType")
        )

    async def delete(self, key: str) -> None:
        """Delete an object; S3 itself treats deleting a missing key as success."""
        check_key(key)
        await self._call(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def upload_target(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int
    ) -> UploadTarget:
        """A presigned POST policy pinning the key, the content type and 1..``max_bytes``."""
        check_key(key)
        check_content_type(content_type)
        check_signing_limits(expires_in=expires_in, max_bytes=max_bytes)
        # boto3 adds the bucket and exact-key conditions itself.
        post = self._presigner.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, max_bytes],
            ],
            ExpiresIn=expires_in,
        )
        return UploadTarget(
            url=post["url"],
            fields=dict(post["fields"]),
            expires_in=expires_in,
            max_bytes=max_bytes,
            content_type=content_type,
        )

    async def download_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str:
        """A presigned GET that S3 answers as an attachment named ``filename``."""
        check_key(key)
        check_content_type(content_type)
        check_signing_limits(expires_in=expires_in)
        return self._presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition(filename),
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_in,
        )

    async def ping(self) -> None:
        """Raise ``Unavailable`` unless the bucket exists and our credentials can reach it."""
        try:
            await self._call(self._pinger.head_bucket, Bucket=self.bucket)
        except Unavailable:
            raise
        except MeetingError as exc:
            raise Unavailable(f"blob store bucket is not usable: {exc.detail}") from exc

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists.

        Meant for development and tests; production provisions the bucket with the rest of its
        infrastructure.
        """

        def create() -> None:
            if self.region == "us-east-1":
                self._client.create_bucket(Bucket=self.bucket)
            else:
                self._client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={"LocationConstraint": self.region},  # type: ignore[typeddict-item]
                )

        try:
            await self._call(self._client.head_bucket, Bucket=self.bucket)
            return
        except NotFound:
            pass
        try:
            await asyncio.to_thread(create)
        except ClientError as exc:
            if _error_code(exc) not in _BUCKET_EXISTS_CODES:
                raise _translate(exc) from exc
        except BotoCoreError as exc:
            raise _translate(exc) from exc

    async def aclose(self) -> None:
        self._client.close()
        self._pinger.close()
        if self._presigner is not self._client:
            self._presigner.close()

    async def _call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one boto3 call in a worker thread, translating its errors."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc) from exc


def _error_code(exc: ClientError) -> str:
    error: dict[str, Any] = dict(exc.response.get("Error", {}))
    return str(error.get("Code", ""))


def _translate(exc: ClientError | BotoCoreError) -> MeetingError:
    """Map a botocore error to the system's error hierarchy."""
    if isinstance(exc, BotoCoreError):
        logger.warning("blob store unreachable", extra={"error": type(exc).__name__})
        return Unavailable("blob store is unreachable")
    code = _error_code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in _MISSING_KEY_CODES:
        return NotFound("blob not found")
    if code == "NoSuchBucket":
        return Unavailable("blob store bucket does not exist")
    if status >= 500 or code in {"SlowDown", "RequestTimeout"}:
        return Unavailable("blob store is temporarily failing")
    logger.error("blob store refused a request", extra={"code": code, "status": status})
    return MeetingError("blob store refused the request", code="blob_store_error")
