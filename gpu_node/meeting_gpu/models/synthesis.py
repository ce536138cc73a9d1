"""``synthesis``: text to speech with hibari and the voice bundled in its wheel.

hibari's other voices are downloaded on first use, so only the bundled one is ever loaded
(``download_missing=False`` makes a missing file an error instead of a download).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from meeting_gpu.models.base import InvalidInput, onnx_device, onnx_providers

Array = npt.NDArray[Any]

MAX_CHARS = 2000
VOICE = "heart"


class SpeechSynthesizer:
    def __init__(self) -> None:
        self._tts: Any = None
        self.device = "cpu"
        self.sample_rate = 24_000

    def load(self) -> None:
        import onnxruntime as ort
        from hibari import SAMPLE_RATE, Hibari
        from hibari.voices import voice_path

        path = voice_path(VOICE, download_missing=False)
        tts = Hibari(voice=VOICE, model=path)
        if onnx_providers()[0] != "CPUExecutionProvider":  # hibari itself only asks for the CPU
            tts.sess = ort.InferenceSession(path, providers=onnx_providers())
        self.device = onnx_device(tts.sess)
        self.sample_rate = int(SAMPLE_RATE)
        tts("Ready.", seed=0)  # loads the pronunciation lexicons now, not on the first request
        self._tts = tts

    def __call__(self, text: str, speed: float) -> Array:
        text = text.strip()
        if not text:
            raise InvalidInput("text is empty")
        if len(text) > MAX_CHARS:
            raise InvalidInput(f"text is longer than {MAX_CHARS} characters")
        if not 0.5 <= speed <= 2.0:
            raise InvalidInput("speed must be between 0.5 and 2.0")
        audio = self._tts(text, speed=speed)
        if audio.size == 0:
            raise InvalidInput("nothing in this text can be spoken")
        return np.asarray(audio, dtype=np.float32)
