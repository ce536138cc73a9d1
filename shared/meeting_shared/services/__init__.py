"""Domain services: plain Python over the ports (unit of work, state, blobs, tokens)."""
