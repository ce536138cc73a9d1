"""The model catalog (``models.toml``): what each AI model takes and gives, read by the node that
serves it and by every client that calls it."""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Literal

from pydantic import BaseModel, Field

DType = Literal["FP32", "INT32", "BYTES"]
ModelName = Literal["asr", "emotion_face", "emotion_text", "synthesis", "speech_emotion"]


class TensorSpec(BaseModel):
    name: str
    dtype: DType
    shape: list[int]
    doc: str = ""


class ModelSpec(BaseModel):
    name: str
    description: str
    served: bool = True
    inputs: list[TensorSpec] = Field(min_length=1)
    outputs: list[TensorSpec] = Field(min_length=1)

    def input(self, name: str) -> TensorSpec:
        return next(spec for spec in self.inputs if spec.name == name)


@functools.cache
def catalog() -> dict[str, ModelSpec]:
    text = resources.files("meeting_shared.ai").joinpath("models.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    return {name: ModelSpec(name=name, **body) for name, body in raw.items()}


def served_models() -> list[ModelSpec]:
    return [spec for spec in catalog().values() if spec.served]
