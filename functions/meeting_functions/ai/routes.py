"""HTTP routes of the ai function: each model behind a plain request, calling the AI nodes
through the failover client. Every call is authenticated and counted against ``RATE_LIMIT_AI``;
speech recognition also by its work: seconds of audio against the person's
``RATE_LIMIT_ASR_AUDIO`` budget, and a turn in this process's transcription queue."""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from meeting_functions.http.deps import ActorDep, ContainerDep, MeetingsDep
from meeting_shared.ai import audio as codec
from meeting_shared.ai.catalog import TensorSpec, catalog
from meeting_shared.ai.client import Face, NodeHealth, TextEmotion, Transcription
from meeting_shared.container import Container
from meeting_shared.errors import InvalidInput, MeetingError, NotServed
from meeting_shared.services.actors import Actor
from meeting_shared.services.meetings import (
    CaptionLanguage,
    MeetingChange,
    MeetingSettings,
    MeetingSettingsChange,
)

ai = APIRouter(prefix="/ai", tags=["ai"])

MAX_BASE64 = 4 * 1024 * 1024  # characters: ~3 MiB of audio or picture
MAX_BATCH = 16
Base64 = Annotated[str, Field(min_length=1, max_length=MAX_BASE64)]


def _decoded(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("not valid base64", field=field, code="bad_base64") from exc


async def _counted(container: Container, actor: Actor, calls: int = 1) -> None:
    for _ in range(calls):
        await container.limiter.check("ai", str(actor.user_id))


# --- speech recognition ---------------------------------------------------------------------


class AsrRequest(BaseModel):
    audio: Base64 = Field(description="base64 of a PCM WAV file, or of raw PCM16 samples")
    encoding: Literal["wav", "pcm16"] = "wav"
    sample_rate: int | None = Field(default=None, description="Required for pcm16")
    channels: Literal[1, 2] = 1
    language: CaptionLanguage = Field(default="auto", description="auto: detect")

    def samples(self) -> codec.Samples:
        raw = _decoded(self.audio, "audio")
        if self.encoding == "wav":
            samples, rate = codec.from_wav(raw)
        else:
            if self.sample_rate is None:
                raise InvalidInput("sample_rate is required for pcm16", field="sample_rate")
            samples, rate = codec.from_pcm16(raw, self.sample_rate, self.channels)
        return codec.to_asr_input(samples, rate)


async def _transcribe(container: Container, actor: Actor, request: AsrRequest) -> Transcription:
    samples = request.samples()
    seconds = samples.size / codec.ASR_RATE
    await container.limiter.spend("asr_audio", str(actor.user_id), seconds)
    language = "" if request.language == "auto" else request.language
    async with container.asr_queue.turn(seconds):
        return await container.ai.transcribe(samples, language)


ASR_LIMITS: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "rate_limited: the person's calls (RATE_LIMIT_AI) or seconds of audio "
        "(RATE_LIMIT_ASR_AUDIO, a budget that refills evenly) are used up; Retry-After says "
        "when this much audio fits again",
    },
    503: {
        "description": "asr_busy: more audio is being transcribed than this server takes at "
        "once and its turn did not come within AI_ASR_MAX_WAIT_SECONDS (or too much waits); "
        "service_unavailable: no AI node answered. Both with Retry-After",
    },
}


@ai.post("/asr", response_model=Transcription, responses=ASR_LIMITS)
async def asr(request: AsrRequest, actor: ActorDep, container: ContainerDep) -> Transcription:
    """Speech to text (Whisper): at most 30 s of audio, resampled to 16 kHz mono. Limited by
    work: the audio's length is taken from the caller's budget of seconds per minute, and a
    transcription waits a bounded time for its turn, then answers 503 ``asr_busy``."""
    await _counted(container, actor)
    return await _transcribe(container, actor, request)


# --- emotion -------------------------------------------------------------------------------


class EmotionRequest(BaseModel):
    """Exactly one of ``text`` (sentiment), ``image`` (facial expressions) or ``audio``."""

    text: str | None = Field(default=None, min_length=1, max_length=5000)
    image: Base64 | None = Field(default=None, description="base64 JPEG or PNG")
    audio: Base64 | None = Field(default=None, description="base64 WAV (speech emotion)")

    @model_validator(mode="after")
    def _one_input(self) -> EmotionRequest:
        given = [name for name in ("text", "image", "audio") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("send exactly one of text, image or audio")
        return self


class EmotionResponse(BaseModel):
    kind: Literal["text", "face"]
    text: TextEmotion | None = None
    faces: list[Face] | None = None


async def _emotion(container: Container, request: EmotionRequest) -> EmotionResponse:
    if request.text is not None:
        return EmotionResponse(kind="text", text=await container.ai.text_emotion(request.text))
    if request.image is not None:
        result = await container.ai.face_emotions(_decoded(request.image, "image"))
        return EmotionResponse(kind="face", faces=result.faces)
    raise NotServed(
        "Emotion in speech is not available: no speech-emotion model is installed on the AI "
        "nodes (see GET /api/v1/ai/info)",
        code="speech_emotion_not_served",
    )


@ai.post("/emotion", response_model=EmotionResponse, response_model_exclude_none=True)
async def emotion(
    request: EmotionRequest, actor: ActorDep, container: ContainerDep
) -> EmotionResponse:
    """Sentiment of a text, or the facial expression of every face in a picture."""
    await _counted(container, actor)
    return await _emotion(container, request)


# --- speech synthesis ------------------------------------------------------------------------


class SynthesisRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    speed: float = Field(default=1.0, ge=0.5, le=2.0)


async def _speak(container: Container, request: SynthesisRequest) -> bytes:
    samples, rate = await container.ai.synthesize(request.text, request.speed)
    return codec.to_wav(samples, rate)


@ai.post(
    "/synthesis",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}, "description": "The spoken text"}},
)
async def synthesis(
    request: SynthesisRequest, actor: ActorDep, container: ContainerDep
) -> Response:
    """Text to speech: a mono 16-bit WAV."""
    await _counted(container, actor)
    return Response(await _speak(container, request), media_type="audio/wav")


# --- a meeting's AI setup -------------------------------------------------------------------


class AiSetup(BaseModel):
    meeting_id: uuid.UUID
    enabled: bool = Field(description="Live captions, transcript and AI cues")
    language: str = Field(description="Spoken language: auto, or an ISO 639-1 code")
    emotion_cues: bool


class AiSetupChange(BaseModel):
    meeting_id: uuid.UUID
    enabled: bool | None = None
    language: CaptionLanguage | None = None
    emotion_cues: bool | None = None


def _setup(meeting_id: uuid.UUID, stored: dict[str, Any]) -> AiSetup:
    settings = MeetingSettings.model_validate(stored or {})
    return AiSetup(
        meeting_id=meeting_id,
        enabled=settings.ai,
        language=settings.ai_language,
        emotion_cues=settings.ai_emotion,
    )


@ai.get("/setup", response_model=AiSetup)
async def get_setup(
    meeting_id: Annotated[uuid.UUID, Query()], actor: ActorDep, meetings: MeetingsDep
) -> AiSetup:
    """A meeting's AI setup (members)."""
    view = await meetings.get(actor, meeting_id)
    return _setup(meeting_id, view.meeting.settings)


@ai.put("/setup", response_model=AiSetup)
async def put_setup(change: AiSetupChange, actor: ActorDep, meetings: MeetingsDep) -> AiSetup:
    """Turn captions on or off, pick the spoken language, allow emotion cues (host, co-host)."""
    settings = MeetingSettingsChange(
        ai=change.enabled, ai_language=change.language, ai_emotion=change.emotion_cues
    )
    view = await meetings.update(actor, change.meeting_id, MeetingChange(settings=settings))
    return _setup(change.meeting_id, view.meeting.settings)


# --- several requests at once ---------------------------------------------------------------


class BatchItem(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    task: Literal["asr", "emotion", "synthesis"]
    input: dict[str, Any]


class BatchRequest(BaseModel):
    items: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH)


class BatchProblem(BaseModel):
    status: int
    code: str
    detail: str
    retry_after: int | None = Field(default=None, description="Seconds, for 429 and 503")


class BatchResult(BaseModel):
    id: str
    ok: bool
    result: dict[str, Any] | None = None
    problem: BatchProblem | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult]


async def _run_item(container: Container, actor: Actor, item: BatchItem) -> BatchResult:
    try:
        if item.task == "asr":
            request = AsrRequest.model_validate(item.input)
            transcription = await _transcribe(container, actor, request)
            result: dict[str, Any] = transcription.model_dump()
        elif item.task == "emotion":
            found = await _emotion(container, EmotionRequest.model_validate(item.input))
            result = found.model_dump(exclude_none=True)
        else:
            wav = await _speak(container, SynthesisRequest.model_validate(item.input))
            result = {"content_type": "audio/wav", "audio": base64.b64encode(wav).decode()}
    except MeetingError as exc:
        problem = BatchProblem(
            status=exc.status,
            code=exc.code,
            detail=exc.detail,
            retry_after=getattr(exc, "retry_after", None),
        )
        return BatchResult(id=item.id, ok=False, problem=problem)
    except ValueError as exc:  # pydantic's ValidationError: the item's input is malformed
        detail = str(exc).splitlines()[0:3]
        problem = BatchProblem(status=422, code="validation_failed", detail=" ".join(detail))
        return BatchResult(id=item.id, ok=False, problem=problem)
    return BatchResult(id=item.id, ok=True, result=result)


@ai.post("/batch", response_model=BatchResponse, responses=ASR_LIMITS)
async def batch(request: BatchRequest, actor: ActorDep, container: ContainerDep) -> BatchResponse:
    """Up to 16 asr, emotion or synthesis requests in one call, run concurrently; each item
    succeeds or fails on its own (synthesized audio comes back base64). Each asr item takes
    its seconds of audio from the budget and waits its turn as ``/ai/asr`` does: an item over
    the budget or not started in time fails alone (429 ``rate_limited`` or 503 ``asr_busy``,
    with ``retry_after``)."""
    ids = [item.id for item in request.items]
    if len(set(ids)) != len(ids):
        raise InvalidInput("item ids must be unique", field="items")
    await _counted(container, actor, len(request.items))
    results = await asyncio.gather(*(_run_item(container, actor, item) for item in request.items))
    return BatchResponse(results=list(results))


# --- what is there --------------------------------------------------------------------------


class ModelInfo(BaseModel):
    name: str
    description: str
    served: bool = Field(description="Whether any AI node can serve it at all")
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    nodes: int = Field(description="Live nodes serving it now")
    devices: list[str]


class AiInfo(BaseModel):
    models: list[ModelInfo]


@ai.get("/info", response_model=AiInfo)
async def info(actor: ActorDep, container: ContainerDep) -> AiInfo:
    """The models, their inputs and outputs (the catalog every node serves), and where they run."""
    live = await container.ai_nodes.live()
    models = []
    for spec in catalog().values():
        serving = [node for node in live if spec.name in node.models]
        models.append(
            ModelInfo(
                name=spec.name,
                description=spec.description,
                served=spec.served,
                inputs=spec.inputs,
                outputs=spec.outputs,
                nodes=len(serving),
                devices=sorted({node.models[spec.name] for node in serving}),
            )
        )
    return AiInfo(models=models)


class AiHealth(BaseModel):
    status: Literal["ok", "unavailable"]
    nodes: list[NodeHealth]


@ai.get("/health", response_model=AiHealth, responses={503: {"model": AiHealth}})
async def health(actor: ActorDep, container: ContainerDep) -> JSONResponse:
    """Every known AI node, ready or not: 200 while each served model runs somewhere."""
    nodes = await container.ai.health()
    needed = {spec.name for spec in catalog().values() if spec.served}
    ready = {name for node in nodes if node.ready for name, ok in node.models.items() if ok}
    body = AiHealth(status="ok" if needed <= ready else "unavailable", nodes=nodes)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if needed <= ready else 503)


ROUTERS = (ai,)
