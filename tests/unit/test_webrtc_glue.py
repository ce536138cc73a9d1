"""The aiortc internals that ``meeting_sfu.media.webrtc`` relies on are still where it reaches.

A new aiortc release that renames one of them must fail here, by name, rather than as media
that silently stops flowing in the integration tests.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from types import SimpleNamespace

import aioice.ice
import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport

from meeting_sfu.media import webrtc

pytestmark = pytest.mark.unit

# What webrtc.py calls or replaces on the DTLS transport.
DTLS_METHODS = (
    "_register_rtp_receiver",
    "_unregister_rtp_receiver",
    "_register_rtp_sender",
    "_unregister_rtp_sender",
    "_send_rtp",
    "_handle_rtp_data",
)


def test_aiortc_is_the_pinned_version() -> None:
    assert version("aiortc") == "1.16.0"


@pytest.mark.parametrize("name", DTLS_METHODS)
def test_the_dtls_transport_has_the_methods_we_call(name: str) -> None:
    assert callable(getattr(RTCDtlsTransport, name, None)), name


async def test_instances_hold_the_attributes_we_read_and_replace() -> None:
    peer = RTCPeerConnection()
    try:
        transceiver = peer.addTransceiver("video")
        # Swapped for our own sender and receiver (name-mangled private attributes).
        assert "_RTCRtpTransceiver__sender" in vars(transceiver)
        assert "_RTCRtpTransceiver__receiver" in vars(transceiver)
        dtls = transceiver.sender.transport
        assert isinstance(dtls, RTCDtlsTransport)
        # The fast send path: state, the SRTP session and the ICE connection's nominated pair.
        for name in ("_state", "_tx_srtp", "_transport"):
            assert name in vars(dtls), name
        assert "_connection" in vars(dtls.transport)
        assert hasattr(vars(dtls.transport)["_connection"], "_nominated")
    finally:
        await peer.close()


async def test_a_connection_closed_before_connect_resumes_ends_its_consent_checks() -> None:
    """aioice starts the consent checks as ``connect()`` resumes from its completed check list,
    even when ``close()`` ran in between; ``end_consent_checks_on_close`` ends them."""
    webrtc.end_consent_checks_on_close()
    connection = aioice.ice.Connection(ice_controlling=True)
    connection.remote_username, connection.remote_password = "remote", "secret-remote"
    connection._local_candidates_end = True
    # The check list has completed, and close() has run before connect() takes the result.
    connection._check_list = [SimpleNamespace(task=None)]  # type: ignore[list-item]
    connection.sort_check_list = lambda: None  # type: ignore[method-assign]
    connection._unfreeze_initial = lambda: None  # type: ignore[method-assign]
    connection._check_periodic = lambda: False  # type: ignore[method-assign]
    connection._check_list_state.put_nowait(aioice.ice.ICE_COMPLETED)
    connection._closing = True
    await connection.connect()
    consent = connection._query_consent_task
    assert consent is not None
    await asyncio.sleep(0)
    assert consent.cancelled()
