"""Speech for tests, made on the spot: hibari's neural voice and Debian's espeak-ng, and the word
error rate to compare what came back with what was said."""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
import wave
from typing import Any

import numpy as np
import numpy.typing as npt

from meeting_shared.ai.audio import resample as resample  # re-exported for the tests
from meeting_shared.ai.audio import to_wav

Samples = npt.NDArray[np.float32]
wav_bytes = to_wav  # mono 16-bit WAV, as the API takes it


@functools.cache
def _hibari() -> Any:
    from hibari import Hibari

    return Hibari()


def hibari_speech(text: str, rate: int = 16000) -> Samples:
    """Neural TTS (24 kHz) resampled to ``rate``."""
    samples = np.asarray(_hibari()(text, seed=1), dtype=np.float32)
    return resample(samples, 24000, rate)


def espeak_speech(text: str, rate: int = 16000) -> Samples:
    """espeak-ng's formant voice (22.05 kHz) resampled to ``rate``."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise RuntimeError("espeak-ng is missing: scripts/install-system-deps.sh installs it")
    wav = subprocess.run([binary, "--stdout", text], check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        source_rate = reader.getframerate()
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    return resample(pcm.astype(np.float32) / 32768.0, source_rate, rate)


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words (Levenshtein on words)."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        current = [i]
        for j, other in enumerate(hyp, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1] / max(1, len(ref))
