"""Helpers that tests and scripts share (live gateways, users, media participants, speech,
photos, AI nodes, clocks): plain code, no fixtures (those stay in the conftest.py files)."""
