"""The packet-forwarding SFU: tracks, subscriptions, RTCP and the aiortc glue."""
