"""The line for speech recognition in this process: admission by seconds of audio, not by calls.

Transcribing costs about as much as the audio is long (29.5 s of speech took ~24 s of CPU), and a
node works on one request at a time. Sending it more at once only makes the later calls wait at
the node until they time out (after their work was done anyway). So this process has at most
``in_flight`` seconds of audio out at the nodes; later calls wait their turn in order, and a call
that cannot start within ``max_wait`` (or would queue more than ``max_waiting`` seconds of audio)
gets ``TranscriptionBusy`` (503 ``asr_busy`` with Retry-After) at once, never a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator

from meeting_shared.errors import Unavailable

# Weight of the newest call in the running estimate of processing time per second of audio.
_SMOOTHING = 0.3


class TranscriptionBusy(Unavailable):
    code = "asr_busy"


class TranscriptionQueue:
    def __init__(
        self, *, in_flight: float, max_waiting: float, max_wait: float, retry_after: int
    ) -> None:
        if in_flight <= 0 or max_waiting < 0 or max_wait < 0:
            raise ValueError("in_flight must be positive, max_waiting and max_wait not negative")
        self._capacity = in_flight
        self._max_waiting = max_waiting
        self._max_wait = max_wait
        self._default_retry_after = retry_after
        self._in_flight = 0.0
        self._waiting: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._waiting_seconds = 0.0
        self._seconds_per_second: float | None = None  # learnt from the calls that finished

    @property
    def in_flight(self) -> float:
        """Seconds of audio out at the nodes now."""
        return self._in_flight

    @property
    def waiting(self) -> float:
        """Seconds of audio waiting for their turn."""
        return self._waiting_seconds

    @contextlib.asynccontextmanager
    async def turn(self, seconds: float) -> AsyncIterator[None]:
        """Wait for room for ``seconds`` of audio (first come, first served) and hold it."""
        share = min(max(seconds, 0.0), self._capacity)  # a clip never needs more than all of it
        if not self._waiting and self._in_flight + share <= self._capacity:
            self._in_flight += share
        else:
            await self._wait_for_room(share)
        started = time.monotonic()
        try:
            yield
        finally:
            self._release(share)
            if seconds > 0:
                self._learn((time.monotonic() - started) / seconds)

    async def _wait_for_room(self, share: float) -> None:
        if self._waiting_seconds + share > self._max_waiting:
            raise self._busy("Too much speech is waiting to be transcribed; try again later")
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (share, granted)
        self._waiting.append(entry)
        self._waiting_seconds += share
        try:
            async with asyncio.timeout(self._max_wait):
                await granted
        except TimeoutError:
            if granted.done() and not granted.cancelled():
                return  # its turn came just as the wait ran out
            self._leave(entry)
            raise self._busy("Speech recognition is busy; try again later") from None
        except BaseException:  # the caller went away
            if granted.done() and not granted.cancelled():
                self._release(share)
            else:
                self._leave(entry)
            raise

    def _leave(self, entry: tuple[float, asyncio.Future[None]]) -> None:
        if entry in self._waiting:
            self._waiting.remove(entry)
            self._waiting_seconds -= entry[0]
        self._grant()  # the head may have left: the next may fit now

    def _release(self, share: float) -> None:
        self._in_flight = max(0.0, self._in_flight - share)
        self._grant()

    def _grant(self) -> None:
        while self._waiting and self._in_flight + self._waiting[0][0] <= self._capacity:
            share, granted = self._waiting.popleft()
            self._waiting_seconds -= share
            if granted.cancelled():  # gone, and not yet out of the line itself
                continue
            self._in_flight += share
            granted.set_result(None)

    def _learn(self, seconds_per_second: float) -> None:
        known = self._seconds_per_second
        self._seconds_per_second = (
            seconds_per_second
            if known is None
            else (1 - _SMOOTHING) * known + _SMOOTHING * seconds_per_second
        )

    def _busy(self, detail: str) -> TranscriptionBusy:
        """With a Retry-After of about when the audio ahead is done, once speed is known."""
        retry_after = self._default_retry_after
        if self._seconds_per_second is not None:
            ahead = (self._in_flight + self._waiting_seconds) * self._seconds_per_second
            retry_after = max(1, math.ceil(ahead))
        return TranscriptionBusy(detail, retry_after=retry_after)
