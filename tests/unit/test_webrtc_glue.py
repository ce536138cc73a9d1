"""The aiortc internals that ``meeting_sfu.media.webrtc`` relies on are still where it reaches.

A new aiortc release that renames one of them must fail here, by name, rather than as media
that silently stops flowing in the integration tests.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport

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
