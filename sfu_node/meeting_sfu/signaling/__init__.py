"""``/ws/signaling``: authenticated room membership, chat, hands, mute state and moderation.

A client joins with the short-lived join token the meeting function issued, then exchanges JSON
frames (``meeting_sfu.protocol``). Changes to the meeting made anywhere (this socket, the REST
API, another process) reach live rooms as events: a removal, a ban or the end of the meeting
disconnects people at once, whichever path made it.

The package is an edge like the control plane's routes; every database read or write goes
through a domain service (``Services``):

- ``node``: ``SignalingNode``, the facade: wires the parts below and serves one socket.
- ``admission``: the join frame, the join token, entering the room.
- ``reading``: a connection's frames in, within its frame budget.
- ``handlers``: one handler per client frame type (a service call, then the room update).
- ``bus_handlers``: events from anywhere (a removal, a ban, the end) reaching live rooms.
- ``updates``: what rooms are told besides forwarding (presence, the lobby, chat once).
- ``departure``: a connection's end, recorded once.
- ``heartbeat``: the node's heartbeat, and its room, node and Prometheus stats.
- ``problems``: the one error map from exceptions to ``error`` frames.
"""
