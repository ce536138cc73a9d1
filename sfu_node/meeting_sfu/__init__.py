"""Media nodes: the signaling WebSocket (``/ws/signaling``), the packet-forwarding SFU, the taps
for live captions and the recording wing. See sfu_node/README.md."""
