"""Media nodes: the signaling WebSocket (``/ws/signaling``); the packet-forwarding SFU next."""
