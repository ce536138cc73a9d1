"""Who is speaking: the dominant speaker from RFC 6464 audio levels the publishers send."""

from __future__ import annotations

import uuid

SPEECH_LEVEL = 60  # -dBov: packets quieter than -60 dBov count as silence
SILENCE = 127


class ActiveSpeaker:
    """Collects audio levels between ticks and names one speaker per room.

    A louder voice takes over only when it has been louder for ``hold`` ticks in a row, so that
    a cough or two people overlapping for a moment does not make the highlight flicker."""

    def __init__(self, hold: int = 2) -> None:
        self.hold = hold
        self.current: uuid.UUID | None = None
        self._loudness: dict[uuid.UUID, list[int]] = {}  # speaker -> [sum of loudness, packets]
        self._challenger: uuid.UUID | None = None
        self._challenges = 0

    def add(self, speaker: uuid.UUID, level: int) -> None:
        """One packet's level in -dBov (0 loudest, 127 silent)."""
        totals = self._loudness.get(speaker)
        if totals is None:
            totals = self._loudness[speaker] = [0, 0]
        if level <= SPEECH_LEVEL:
            totals[0] += SILENCE - level
        totals[1] += 1

    def forget(self, speaker: uuid.UUID) -> None:
        self._loudness.pop(speaker, None)
        if self.current == speaker:
            self.current = None
        if self._challenger == speaker:
            self._challenger, self._challenges = None, 0

    def tick(self) -> tuple[bool, uuid.UUID | None]:
        """Close the window: (whether the active speaker changed, the active speaker)."""
        scores = {
            speaker: total / packets
            for speaker, (total, packets) in self._loudness.items()
            if packets and total
        }
        self._loudness = {}
        if not scores:
            self._challenger, self._challenges = None, 0
            return False, self.current  # silence keeps the last speaker highlighted
        loudest = max(scores, key=lambda speaker: scores[speaker])
        if loudest == self.current or self.current is None:
            changed = loudest != self.current
            self.current = loudest
            self._challenger, self._challenges = None, 0
            return changed, self.current
        if loudest == self._challenger:
            self._challenges += 1
        else:
            self._challenger, self._challenges = loudest, 1
        if self._challenges >= self.hold:
            self.current = loudest
            self._challenger, self._challenges = None, 0
            return True, self.current
        return False, self.current
