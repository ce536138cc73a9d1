"""Recorded meetings: turning the media nodes' per-track files into one playable video."""
