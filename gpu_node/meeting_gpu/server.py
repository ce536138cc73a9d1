"""An AI node: the catalog's models served by NVIDIA Triton (through PyTriton), and a heartbeat.

PyTriton starts a real Triton server (``tritonserver`` ships inside the wheel) whose Python
backend hands each request to the functions bound here, in this process. Each function decodes
the inputs the catalog declares, calls its model and encodes the outputs; input the model refuses
is answered in the ``error`` output (a client error), anything else fails the request (a node
error, which makes callers try another node).
"""

from __future__ import annotations

import json
import logging
import os
import sysconfig
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from meeting_gpu.models.base import InvalidInput, Model
from meeting_shared.ai.catalog import ModelSpec, TensorSpec, served_models
from meeting_shared.ai.nodes import AiNodeStatus
from meeting_shared.settings import Settings

Array = npt.NDArray[Any]

logger = logging.getLogger(__name__)

Request = dict[str, Array]
Outputs = dict[str, Array]
Handler = Callable[[Request], Outputs]
EXIT_TIMEOUT_SECONDS = 3  # Triton waits 30 s for idle HTTP connections by default

NUMPY_TYPES: dict[str, Any] = {"FP32": np.float32, "INT32": np.int32, "BYTES": np.bytes_}


def text_of(request: Request, name: str) -> str:
    value = request[name].reshape(-1)
    if value.size != 1:
        raise InvalidInput(f"{name} must hold one value")
    raw = value[0]
    try:
        return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name} is not UTF-8 text") from exc


def bytes_of(request: Request, name: str) -> bytes:
    raw = request[name].reshape(-1)
    if raw.size != 1 or not isinstance(raw[0], bytes):
        raise InvalidInput(f"{name} must hold one byte string")
    return bytes(raw[0])


def document(value: object) -> Array:
    return np.array([json.dumps(value, ensure_ascii=False).encode()], dtype=np.bytes_)


class AiNode:
    """Loads the models, serves them, and counts what it does (for heartbeats and /health)."""

    def __init__(self, settings: Settings, *, models: list[str] | None = None) -> None:
        self.settings = settings
        self.specs = [s for s in served_models() if models is None or s.name in models]
        self.models: dict[str, Model] = {}
        self.in_flight = 0
        self.served = 0
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._triton: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.ai_node_host}:{self.settings.ai_http_port}"

    def status(self) -> AiNodeStatus:
        return AiNodeStatus(
            id=f"{self.settings.ai_node_host}:{self.settings.ai_http_port}",
            url=self.url,
            models={name: model.device for name, model in self.models.items()},
            in_flight=self.in_flight,
            served=self.served,
        )

    # --- models --------------------------------------------------------------------------

    def _build(self, name: str) -> tuple[Model, Handler]:
        cache: Path = self.settings.model_dir
        threads = self.settings.ai_cpu_threads
        # Imported here: a node serving only some models needs only their libraries.
        if name == "asr":
            from meeting_gpu.models.asr import SpeechRecognizer

            asr = SpeechRecognizer(cache, cpu_threads=threads)
            return asr, lambda r: {
                "result": document(asr(r["audio"].reshape(-1), text_of(r, "language").strip()))
            }
        if name == "emotion_face":
            from meeting_gpu.models.emotion_face import FaceEmotion

            face = FaceEmotion(cache)
            return face, lambda r: {"result": document(face(bytes_of(r, "image")))}
        if name == "emotion_text":
            from meeting_gpu.models.emotion_text import TextEmotion

            text = TextEmotion()
            return text, lambda r: {"result": document(text(text_of(r, "text")))}
        if name == "synthesis":
            from meeting_gpu.models.synthesis import SpeechSynthesizer

            tts = SpeechSynthesizer()

            def speak(r: Request) -> Outputs:
                speed = r["speed"].reshape(-1)
                audio = tts(text_of(r, "text"), float(speed[0]) if speed.size else 1.0)
                return {"audio": audio, "sample_rate": np.array([tts.sample_rate], np.int32)}

            return tts, speak
        raise ValueError(f"no implementation for model {name!r}")

    def _infer_function(
        self, spec: ModelSpec, handler: Handler
    ) -> Callable[[list[Request]], list[Outputs]]:
        def infer(requests: list[Request]) -> list[Outputs]:
            with self._lock:
                self.in_flight += len(requests)
            try:
                return [self._answer(spec, handler, request) for request in requests]
            finally:
                with self._lock:
                    self.in_flight -= len(requests)
                    self.served += len(requests)

        return infer

    @staticmethod
    def _answer(spec: ModelSpec, handler: Handler, request: Request) -> Outputs:
        try:
            outputs = handler(request)
            error = ""
        except InvalidInput as exc:
            outputs, error = {}, str(exc)
        for tensor in spec.outputs:
            if tensor.name not in outputs:
                outputs[tensor.name] = _empty(tensor)
        outputs["error"] = np.array([error.encode()], dtype=np.bytes_)
        return outputs

    # --- serving -------------------------------------------------------------------------

    def load(self) -> None:
        for spec in self.specs:
            model, handler = self._build(spec.name)
            model.load()
            self.models[spec.name] = model
            self._handlers[spec.name] = handler
            logger.info("model loaded", extra={"model": spec.name, "device": model.device})

    def start(self) -> None:
        """Load every model and start Triton (blocks until it is ready: seconds, not minutes)."""
        from pytriton.model_config import ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig

        self.load()
        # Triton's Python backend loads libpython; with a pyenv/uv interpreter it must find this
        # interpreter's own library first, or model load fails.
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        paths = [libdir, *os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)]
        os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in dict.fromkeys(paths) if p)
        config = TritonConfig(
            http_address=self.settings.ai_node_host,
            http_port=self.settings.ai_http_port,
            grpc_address=self.settings.ai_node_host,
            grpc_port=self.settings.ai_grpc_port,
            metrics_address=self.settings.ai_node_host,
            metrics_port=self.settings.ai_metrics_port,
            exit_timeout_secs=EXIT_TIMEOUT_SECONDS,
            log_verbose=0,
            log_file=self._log_file(),
        )
        triton = Triton(config=config)
        for spec in self.specs:
            triton.bind(
                model_name=spec.name,
                infer_func=self._infer_function(spec, self._handlers[spec.name]),
                inputs=[_tensor(Tensor, t) for t in spec.inputs],
                outputs=[_tensor(Tensor, t) for t in spec.outputs],
                config=ModelConfig(batching=False),
                strict=True,
            )
        triton.run()
        self._triton = triton
        logger.info("AI node serving", extra={"url": self.url, "models": list(self.models)})

    def _log_file(self) -> Path:
        """Triton's own log (plain text, chatty): beside the data, not in our JSON logs."""
        folder = self.settings.data_dir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"triton-{self.settings.ai_http_port}.log"

    def stop(self) -> None:
        triton, self._triton = self._triton, None
        if triton is not None:
            triton.stop()


def _tensor(factory: Any, spec: TensorSpec) -> Any:
    return factory(name=spec.name, dtype=NUMPY_TYPES[spec.dtype], shape=tuple(spec.shape))


def _empty(spec: TensorSpec) -> Array:
    if spec.dtype == "BYTES":
        return np.array([b""] * max(1, spec.shape[0]), dtype=np.bytes_)
    size = 0 if spec.shape[0] == -1 else spec.shape[0]
    return np.zeros(size, dtype=NUMPY_TYPES[spec.dtype])
