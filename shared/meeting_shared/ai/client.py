"""Calling the AI nodes: Triton's HTTP protocol (``tritonclient``), failover across nodes.

Requests are built from the model catalog. A node that cannot be reached, times out or fails a
request is skipped for a little while and the next candidate is tried; when none answers the
caller gets ``Unavailable`` (503 with Retry-After), never a hang. Input a model refuses is the
caller's mistake: ``InvalidInput`` (422), and no other node is tried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from meeting_shared import metrics
from meeting_shared.ai.catalog import ModelSpec, catalog
from meeting_shared.ai.nodes import AiNodeDirectory, AiNodeStatus
from meeting_shared.errors import InvalidInput, Unavailable
from meeting_shared.telemetry import current_traceparent

if TYPE_CHECKING:  # numpy comes with tritonclient, when a model is called: the functions that
    import numpy.typing as npt  # never call one are deployed without either (a smaller bundle)

    Array = npt.NDArray[Any]

logger = logging.getLogger(__name__)

SKIP_FAILED_NODE_SECONDS = 5.0
HEALTH_TIMEOUT_SECONDS = 2.0


class Segment(BaseModel):
    start: float
    end: float
    text: str


class Transcription(BaseModel):
    text: str
    language: str
    duration: float
    segments: list[Segment]


class Face(BaseModel):
    box: list[int]
    emotion: str
    scores: dict[str, float]


class FaceEmotions(BaseModel):
    faces: list[Face]


class TextEmotion(BaseModel):
    label: str
    compound: float
    scores: dict[str, float]


class NodeHealth(BaseModel):
    id: str
    url: str
    ready: bool
    models: dict[str, bool]
    in_flight: int | None = None
    served: int | None = None
    devices: dict[str, str] = {}


class AiClient:
    def __init__(self, directory: AiNodeDirectory, *, timeout: float, retry_after: int) -> None:
        self._directory = directory
        self._timeout = timeout
        self._retry_after = retry_after
        self._clients: dict[str, Any] = {}
        self._skip_until: dict[str, float] = {}

    def _client(self, url: str) -> Any:
        import tritonclient.http.aio as triton

        client = self._clients.get(url)
        if client is None:
            host = url.split("://", 1)[-1]
            client = triton.InferenceServerClient(host, conn_timeout=self._timeout)
            self._clients[url] = client
        return client

    async def infer(self, model: str, values: dict[str, Any]) -> dict[str, Array]:
        """Run ``model`` on the first node that answers; outputs by name."""
        started = time.perf_counter()
        outcome = "error"  # anything unforeseen
        try:
            answer = await self._infer(model, values)
            outcome = "ok"
            return answer
        except InvalidInput:
            outcome = "rejected"
            raise
        except Unavailable:
            outcome = "unavailable"
            raise
        finally:
            if model in catalog():  # never a label per name a caller made up
                metrics.AI_REQUESTS.labels(model, outcome).inc()
                metrics.AI_REQUEST_DURATION.labels(model).observe(time.perf_counter() - started)

    async def _infer(self, model: str, values: dict[str, Any]) -> dict[str, Array]:
        import tritonclient.http as triton_http

        spec = catalog()[model]
        if not spec.served:
            raise Unavailable(f"No AI node serves {model}", retry_after=self._retry_after)
        inputs = [_input(triton_http, spec, name, value) for name, value in values.items()]
        outputs = [triton_http.InferRequestedOutput(t.name, binary_data=True) for t in spec.outputs]
        now = time.monotonic()
        candidates = await self._directory.candidates(model)
        # Nodes that failed a moment ago go last, not away: they may be the only ones left.
        candidates.sort(key=lambda node: self._skip_until.get(node.url, 0.0) > now)
        for node in candidates:
            try:
                call = self._client(node.url).infer(
                    model, inputs, outputs=outputs, headers=_trace_headers()
                )
                result = await asyncio.wait_for(call, self._timeout)
            except Exception as exc:  # down, hung, or failing: all mean "try another node"
                metrics.AI_NODE_FAILURES.labels(model).inc()
                self._skip_until[node.url] = time.monotonic() + SKIP_FAILED_NODE_SECONDS
                logger.warning(
                    "AI node failed; trying the next",
                    extra={"node": node.url, "model": model, "error": f"{exc!r}"[:300]},
                )
                continue
            self._skip_until.pop(node.url, None)
            answer = {t.name: result.as_numpy(t.name) for t in spec.outputs}
            error = answer["error"].reshape(-1)[0]
            if error:
                raise InvalidInput(error.decode("utf-8", "replace"), code=f"{model}_rejected")
            return answer
        raise Unavailable(f"No AI node could run {model}", retry_after=self._retry_after)

    # --- one method per model ---------------------------------------------------------------

    async def transcribe(self, audio: Array, language: str = "") -> Transcription:
        import numpy as np

        answer = await self.infer("asr", {"audio": audio.astype(np.float32), "language": language})
        return Transcription.model_validate(_json(answer["result"]))

    async def face_emotions(self, image: bytes) -> FaceEmotions:
        answer = await self.infer("emotion_face", {"image": image})
        return FaceEmotions.model_validate(_json(answer["result"]))

    async def text_emotion(self, text: str) -> TextEmotion:
        answer = await self.infer("emotion_text", {"text": text})
        return TextEmotion.model_validate(_json(answer["result"]))

    async def synthesize(self, text: str, speed: float = 1.0) -> tuple[Array, int]:
        answer = await self.infer("synthesis", {"text": text, "speed": float(speed)})
        return answer["audio"].reshape(-1), int(answer["sample_rate"].reshape(-1)[0])

    # --- health ------------------------------------------------------------------------------

    async def health(self) -> list[NodeHealth]:
        """Every known node: ready or not, per model, with the load it last reported."""
        live = {status.url: status for status in await self._directory.live()}
        nodes: dict[str, AiNodeStatus] = dict(live)
        for model in catalog():
            for node in await self._directory.candidates(model):
                nodes.setdefault(node.url, node)
        return list(
            await asyncio.gather(*(self._probe(node, node.url in live) for node in nodes.values()))
        )

    async def _probe(self, node: AiNodeStatus, beating: bool) -> NodeHealth:
        client = self._client(node.url)
        models: dict[str, bool] = {}
        try:
            ready = bool(await asyncio.wait_for(client.is_server_ready(), HEALTH_TIMEOUT_SECONDS))
            for spec in catalog().values():
                if spec.served:
                    models[spec.name] = bool(
                        await asyncio.wait_for(
                            client.is_model_ready(spec.name), HEALTH_TIMEOUT_SECONDS
                        )
                    )
        except Exception:
            ready = False
        return NodeHealth(
            id=node.id,
            url=node.url,
            ready=ready,
            models=models,
            in_flight=node.in_flight if beating else None,
            served=node.served if beating else None,
            devices=node.models,
        )

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            try:
                await client.close()
            except Exception:
                logger.debug("closing a Triton client failed", exc_info=True)


def _input(triton_http: Any, spec: ModelSpec, name: str, value: Any) -> Any:
    import numpy as np

    tensor = spec.input(name)
    if tensor.dtype == "BYTES":
        raw = value if isinstance(value, bytes) else str(value).encode()
        array: Array = np.array([raw], dtype=np.object_)
    elif tensor.dtype == "FP32":
        array = np.asarray(value, dtype=np.float32).reshape(-1 if tensor.shape == [-1] else 1)
    else:
        array = np.asarray(value, dtype=np.int32).reshape(-1 if tensor.shape == [-1] else 1)
    request = triton_http.InferInput(name, list(array.shape), tensor.dtype)
    request.set_data_from_numpy(array, binary_data=True)
    return request


def _json(array: Array) -> Any:
    return json.loads(array.reshape(-1)[0])


def _trace_headers() -> dict[str, str] | None:
    """The caller's trace for Triton (which continues it when its tracing is on)."""
    traceparent = current_traceparent()
    return {"traceparent": traceparent} if traceparent else None
