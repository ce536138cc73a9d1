"""Packet counters for one media node, and the rates derived from them for node stats."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class Traffic:
    """Running totals; the forwarding path only ever adds to them."""

    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    retransmitted: int = 0


@dataclass(slots=True)
class Rates:
    packets_in_per_second: float = 0.0
    packets_out_per_second: float = 0.0
    bitrate_in: float = 0.0
    bitrate_out: float = 0.0
    cpu_percent: float = 0.0


@dataclass(slots=True)
class RateMeter:
    """Turns the totals into per-second rates over the interval between two samples."""

    traffic: Traffic
    rates: Rates = field(default_factory=Rates)
    _last: tuple[float, float, int, int, int, int] | None = None

    def sample(self) -> Rates:
        now, cpu = time.monotonic(), time.process_time()
        t = self.traffic
        current = (now, cpu, t.packets_in, t.packets_out, t.bytes_in, t.bytes_out)
        if self._last is not None and now > self._last[0]:
            elapsed = now - self._last[0]
            self.rates = Rates(
                packets_in_per_second=(current[2] - self._last[2]) / elapsed,
                packets_out_per_second=(current[3] - self._last[3]) / elapsed,
                bitrate_in=8 * (current[4] - self._last[4]) / elapsed,
                bitrate_out=8 * (current[5] - self._last[5]) / elapsed,
                cpu_percent=100 * (cpu - self._last[1]) / elapsed,
            )
        self._last = current
        return self.rates
