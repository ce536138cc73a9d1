"""The ``meeting`` command: run the gateway, a media node, an AI node, the relay or the mixer;
migrate the schema; bootstrap an administrator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

import typer
import uvicorn
from prometheus_client import start_http_server
from pydantic import ValidationError

from meeting_sfu.protocol import MAX_FRAME_BYTES
from meeting_shared.container import Container
from meeting_shared.db import migrate as migrations
from meeting_shared.errors import MeetingError
from meeting_shared.logging import configure_logging
from meeting_shared.services.accounts import Registration
from meeting_shared.services.user_admin import create_admin
from meeting_shared.settings import Settings, get_settings

app = typer.Typer(help="meeting-system: self-hosted video meetings", no_args_is_help=True)
admin_app = typer.Typer(help="Administration", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
logger = logging.getLogger("meeting.cli")


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the latest version."""
    settings = get_settings()
    configure_logging(settings.log_level)
    migrations.upgrade(settings.database_url)
    typer.echo("database schema is up to date")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: HOST setting)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: PORT setting)")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (needs REDIS_URL if > 1)")
    ] = 1,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Migrate first")
    ] = False,
) -> None:
    """Run every function behind one local gateway (API, docs, health, web client; metrics on
    METRICS_PORT)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    if workers > 1 and not settings.uses_redis:
        raise typer.BadParameter(
            "several workers share sessions and rate limits only through Redis: set REDIS_URL"
        )
    if workers > 1 and settings.embedded_media_node:
        # A room's sockets would land on different workers, which cannot forward to each other.
        raise typer.BadParameter(
            "a media node is one process: with several workers set EMBEDDED_MEDIA_NODE=false "
            "and run media nodes with `meeting sfu`"
        )
    if workers > 1 and settings.metrics_port:
        raise typer.BadParameter(
            "METRICS_PORT serves one process's metrics: with several workers scrape each "
            "worker's /metrics with METRICS_TOKEN, or run one worker per container"
        )
    if migrate_first:
        migrations.upgrade(settings.database_url)
    serve_metrics(settings)
    uvicorn.run(
        "meeting_launcher.gateway:create_gateway",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=settings.trust_forwarded_for,
        server_header=False,
        ws_max_size=MAX_FRAME_BYTES,
    )


@app.command()
def relay() -> None:
    """Publish the outbox's events (to Kafka when KAFKA_BOOTSTRAP_SERVERS is set) and run the
    notification and audit consumers. `meeting serve` does this itself; run it separately when
    the API runs as Lambda functions."""
    settings = get_settings()
    configure_logging(settings.log_level)
    serve_metrics(settings)

    async def run() -> None:
        container = Container.build(settings, source="relay")
        try:
            await asyncio.gather(container.relay.run(), container.bus.run())
        finally:
            await container.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def serve_metrics(settings: Settings) -> None:
    """Prometheus's /metrics on METRICS_PORT (HOST), apart from any public API port."""
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.host)


@app.command()
def sfu(
    host: Annotated[str | None, typer.Option(help="Bind address (default: HOST setting)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: PORT setting)")] = None,
) -> None:
    """Run a standalone media node (NODE_ID, one of MEDIA_NODES): signaling and the SFU.

    One process uses one core: run one node per core, each with its own NODE_ID and port."""
    settings = get_settings()
    configure_logging(settings.log_level)
    serve_metrics(settings)
    uvicorn.run(
        "meeting_sfu.app:create_sfu_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        ws_max_size=MAX_FRAME_BYTES,
    )


@app.command("gpu-node")
def gpu_node(
    model: Annotated[
        list[str] | None,
        typer.Option(help="Serve only this model (repeat for several; default: all)"),
    ] = None,
) -> None:
    """Run an AI node: Triton serving speech recognition, emotion and speech synthesis, and the
    worker that turns meeting speech into captions (AI_HTTP_PORT, AI_GRPC_PORT, AI_METRICS_PORT)."""
    from meeting_gpu.app import run_gpu_node  # loads the AI stack only for this command

    settings = get_settings()
    configure_logging(settings.log_level)
    serve_metrics(settings)  # the caption worker's model calls; Triton's own are separate
    asyncio.run(run_gpu_node(settings, model))


@app.command()
def mixer() -> None:
    """Mix stopped recordings into one video each (ffmpeg) and delete those past
    RECORDING_RETENTION_DAYS. `meeting serve` does this itself unless
    EMBEDDED_RECORDING_WORKER=false; run several on machines with spare CPU."""
    from meeting_sfu.recording.mixing import MixingWorker

    settings = get_settings()
    configure_logging(settings.log_level)
    serve_metrics(settings)

    async def run() -> None:
        # "recorder" names this role's event consumer group: renaming it would start a new group.
        container = Container.build(settings, source="recorder")
        worker = MixingWorker.from_container(container)
        try:
            await asyncio.gather(worker.run(), container.bus.run())
        finally:
            await container.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@app.command(deprecated=True)
def recorder() -> None:
    """Deprecated alias of `meeting mixer` (it mixes saved recordings and records nothing); it
    goes away in the next release."""
    typer.echo("`meeting recorder` is deprecated: run `meeting mixer`", err=True)
    mixer()


@admin_app.command("create")
def admin_create(
    username: Annotated[str, typer.Option(prompt=True)],
    email: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, envvar="MEETING_ADMIN_PASSWORD"
        ),
    ],
    display_name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create an administrator account (the first one, or another)."""
    settings = get_settings()
    configure_logging("WARNING")
    try:
        registration = Registration(
            username=username, email=email, password=password, display_name=display_name
        )
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"{'.'.join(map(str, error['loc']))}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc

    async def create() -> str:
        container = Container.build(settings, source="cli")
        try:
            async with container.db.session() as session:
                user = await create_admin(
                    container.unit_of_work(session), container.hasher, registration
                )
            await container.relay.drain()
            return str(user.id)
        finally:
            await container.aclose()

    try:
        user_id = asyncio.run(create())
    except MeetingError as exc:
        typer.echo(f"error: {exc.detail} ({exc.code})", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"administrator {registration.username} created (id {user_id})")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
