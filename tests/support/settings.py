"""What every test deployment sets, whatever its backends: a fresh signing secret, cheap password
hashing, rate limits no test reaches by accident, media on loopback, quiet logs, and no AI node in
the process (tests that need AI start one: tests/ai/conftest.py)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from meeting_shared.settings import Settings

GENEROUS_LIMIT = "100000/60"


def deployment_settings(data_dir: Path, backends: dict[str, Any], **overrides: Any) -> Settings:
    """Settings for a test deployment whose files live in ``data_dir``, on ``backends``."""
    values: dict[str, Any] = {
        "environment": "test",
        **backends,
        "jwt_secret": secrets.token_urlsafe(48),
        "data_dir": data_dir,
        "web_dir": data_dir / "no-web",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "argon2_parallelism": 1,
        "rate_limit_login": GENEROUS_LIMIT,
        "rate_limit_login_ip": GENEROUS_LIMIT,
        "rate_limit_register": GENEROUS_LIMIT,
        "rate_limit_password_reset": GENEROUS_LIMIT,
        "rate_limit_refresh": GENEROUS_LIMIT,
        "rate_limit_chat": GENEROUS_LIMIT,
        "ice_host_addresses": ["127.0.0.1"],  # media stays on loopback in tests
        "log_level": "WARNING",
        "embedded_ai_node": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)
