"""The domain and its adapters, shared by every plane (control, media, AI), in layers; a layer
imports only the layers below it (``[tool.importlinter]`` in pyproject.toml checks it):

- wiring: ``container`` (picks the adapters from settings, builds the services);
- ``services/``: domain services, and the event consumers (audit log, mails, transcripts);
- adapters, one package per port with its embedded and production adapters: ``bus/``
  (in-process, Kafka; delivery, outbox relay), ``db/``, ``state/``, ``blobs/``, ``mail/``,
  ``ai/`` (the AI nodes' client), ``media_probe``;
- platform: ``settings``, ``security``, ``logging``, ``metrics``, ``background``;
- core, plain data and rules: ``events``, ``enums``, ``errors``, ``clock``, ``text``; and the
  trace context events carry (``telemetry``).
"""
