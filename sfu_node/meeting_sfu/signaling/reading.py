"""A connection's frames in: each handled in turn, within the client's frame budget, until the
connection ends; how it ended decides what its departure records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import WebSocketDisconnect

from meeting_sfu.protocol import FRAME_BURST, FRAME_RATE, MAX_FRAME_BYTES, CloseCode, ErrorFrame
from meeting_sfu.rooms import Connection

GOODBYE_CODES = (1000, 1001)  # a client closing with these left; any other ending is a drop
# Why the node closed a connection it would not go on serving (a departure nobody recorded):
TOO_SLOW = "too slow"
TOO_MANY_FRAMES = "too many frames"
FRAME_TOO_BIG = "frame too big"
DROPPED = frozenset({"disconnected", TOO_SLOW, TOO_MANY_FRAMES, FRAME_TOO_BIG})

FrameHandler = Callable[[Connection, str], Awaitable[None]]


async def read_frames(connection: Connection, handle: FrameHandler) -> str:
    """Handle the client's frames until the connection ends; returns how it ended: ``left``
    (the client closed it with 1000 or 1001), ``disconnected``, or the node's closing
    reason."""
    while True:
        try:
            message = await connection.receive()
        except (WebSocketDisconnect, RuntimeError):
            return connection.closing_reason or "disconnected"
        if message is None:  # dropped by the node: it did not read its frames
            return connection.closing_reason or TOO_SLOW
        if message["type"] == "websocket.disconnect":
            if connection.closing_reason is not None:
                return connection.closing_reason
            return "left" if message.get("code") in GOODBYE_CODES else "disconnected"
        if not connection.budget.take():
            if _refuse(connection):
                return connection.closing_reason or TOO_MANY_FRAMES
            continue
        text = message.get("text")
        if text is None:
            connection.send(ErrorFrame(code="invalid_frame", message="Frames are JSON text"))
            continue
        if len(text) > MAX_FRAME_BYTES:
            connection.close(CloseCode.MESSAGE_TOO_BIG, FRAME_TOO_BIG)
            return connection.closing_reason or FRAME_TOO_BIG
        await handle(connection, text)


def _refuse(connection: Connection) -> bool:
    """A frame over the client's budget is not handled: the first of a run gets an error, a
    whole burst more closes the connection (True)."""
    refused = connection.budget.refused
    if refused == 1:
        connection.send(
            ErrorFrame(
                code="rate_limited",
                message=f"Too many frames: at most {FRAME_RATE:g} a second "
                f"(bursts of {FRAME_BURST}); frames are dropped until then",
            )
        )
    if refused <= FRAME_BURST:
        return False
    connection.close(CloseCode.TOO_MANY_FRAMES, TOO_MANY_FRAMES)
    return True
