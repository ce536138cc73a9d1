"""What every served model shares: the error for bad input and the choice of device."""

from __future__ import annotations

import functools
from typing import Any, Protocol


class InvalidInput(ValueError):
    """The request cannot be processed (not audio, not an image, empty text ...): a client error.

    The message is shown to the caller, so it says what was wrong in plain words."""


class Model(Protocol):
    """A served model: loaded once when the node starts, then called from Triton's threads."""

    device: str  # "cuda" or "cpu", decided by load()

    def load(self) -> None: ...


@functools.cache
def onnx_providers() -> list[str]:
    """ONNX Runtime providers: CUDA first when this build and machine have it."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def onnx_device(session: Any) -> str:
    return "cuda" if "CUDAExecutionProvider" in session.get_providers() else "cpu"
