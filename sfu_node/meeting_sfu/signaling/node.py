"""The signaling side of one media node: ``SignalingNode`` wires the parts of this package
(admission, frame handlers, bus handlers, heartbeat) from the container and serves each socket;
every part gets the pieces it uses, not the container."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, WebSocket

from meeting_sfu.ai import NodeAi
from meeting_sfu.media import webrtc
from meeting_sfu.media.session import MediaConfig, MediaRoom
from meeting_sfu.media.tracks import Bitrates, PublishedTrack
from meeting_sfu.media.traffic import Traffic
from meeting_sfu.protocol import CloseCode
from meeting_sfu.recording.node import NodeRecordings
from meeting_sfu.rooms import Room, RoomRegistry
from meeting_sfu.signaling.admission import Admission
from meeting_sfu.signaling.bus_handlers import BusHandlers
from meeting_sfu.signaling.departure import Departure
from meeting_sfu.signaling.handlers import FrameHandlers
from meeting_sfu.signaling.heartbeat import NodeHeartbeat
from meeting_sfu.signaling.reading import read_frames
from meeting_sfu.signaling.updates import RoomUpdates
from meeting_shared import metrics
from meeting_shared.container import Container

router = APIRouter()


class SignalingNode:
    """The signaling side of one media node."""

    def __init__(self, container: Container, node_id: str) -> None:
        self.node_id = node_id
        settings = container.settings
        self._allowed_origins = settings.allowed_origins
        webrtc.use_host_addresses(settings.ice_host_addresses)
        self.media_config = MediaConfig(
            ice_servers=[],  # the SFU needs no STUN/TURN of its own: it has a reachable address
            bitrates=Bitrates(
                camera=settings.media_camera_bitrate, screen=settings.media_screen_bitrate
            ),
        )
        self.traffic = Traffic()
        self.rooms = RoomRegistry(container.state, node_id, self._media_room)
        open_services = container.open_services
        self.ai = NodeAi(
            node_id,
            self.rooms,
            bus=container.bus,
            ai=container.ai,
            state=container.state,
            blobs=container.blobs,
            open_services=open_services,
        )
        self.recordings = NodeRecordings.from_container(container, node_id, self.rooms)
        self._heartbeat = NodeHeartbeat(
            node_id,
            self.rooms,
            self.traffic,
            self.ai,
            nodes=container.nodes,
            state=container.state,
            interval=settings.media_node_heartbeat_seconds,
            recover_recordings=self.recordings.recover,
            rooms_recording=lambda: self.recordings.rooms_recording,
        )
        updates = RoomUpdates(self.rooms, open_services)
        self._admission = Admission(
            node_id,
            self.rooms,
            updates,
            self.ai,
            recording_state=self.recordings.state,
            settings=settings,
            tokens=container.tokens,
            state=container.state,
            open_services=open_services,
        )
        self._frames = FrameHandlers(
            self.rooms, updates, self.ai, open_services=open_services, limiter=container.limiter
        )
        self._departure = Departure(
            self.rooms,
            self.ai,
            room_closed=self._heartbeat.room_closed,
            open_services=open_services,
        )
        BusHandlers(self.rooms, updates, open_services=open_services).subscribe(container.bus)
        metrics.MEDIA_NODES.watch(self._heartbeat)

    def _media_room(self, room: Room) -> MediaRoom:
        return MediaRoom(
            room.meeting_id,
            self.media_config,
            self.traffic,
            lambda frame, skip: room.broadcast(frame, skip=skip),
            on_track=self._track_observer(room),
        )

    def _track_observer(self, room: Room) -> Callable[[PublishedTrack, bool], None]:
        """What follows a room's tracks besides forwarding: the AI taps and the recorders."""
        ai = self.ai.observer(room.meeting_id)
        recording = self.recordings.observer(room.meeting_id, room)

        def changed(track: PublishedTrack, published: bool) -> None:
            ai(track, published)
            recording(track, published)

        return changed

    async def heartbeat(self) -> None:
        """Keep the node in the directory and its stats current, until cancelled."""
        await self._heartbeat.run()

    async def serve(self, websocket: WebSocket) -> None:
        """One socket's life: the origin, the join, its frames, its departure."""
        origin = websocket.headers.get("origin")
        if origin is not None and origin not in self._allowed_origins:
            await websocket.close(code=CloseCode.FORBIDDEN_ORIGIN, reason="origin not allowed")
            return
        await websocket.accept()
        connection = await self._admission.join(websocket)
        if connection is None:
            return
        reason = "disconnected"
        try:
            reason = await read_frames(connection, self._frames.handle)
        finally:
            await self._departure.depart(connection, reason)


@router.websocket("/ws/signaling")
async def signaling(websocket: WebSocket) -> None:
    node: SignalingNode = websocket.app.state.signaling
    await node.serve(websocket)
