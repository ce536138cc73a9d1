"""Container healthcheck: exits 0 when the URL answers 2xx within a few seconds, else 1.

The images run it as ``python /opt/meeting/healthcheck.py URL`` (slim images have no curl, and
Python is there anyway); ``$VAR`` in the URL is the container's setting (``${PORT}``), expanded
here because Docker passes an exec-form command as written. A 503 from ``/health`` (a dependency
down) fails it like no answer.
"""

from __future__ import annotations

import os
import sys
import urllib.request

TIMEOUT_SECONDS = 4.0


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - our URL
            return 200 <= int(response.status) < 300
    except OSError as exc:  # refused, timed out, or an HTTP error status
        sys.stderr.write(f"unhealthy: {url}: {exc}\n")
        return False


if __name__ == "__main__":
    sys.exit(0 if healthy(os.path.expandvars(sys.argv[1])) else 1)
