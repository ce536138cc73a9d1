"""The AI side of live captions: speech segments in, caption lines out.

Runs wherever an AI node runs (``meeting gpu-node``, or embedded in ``meeting serve``). Each
segment is transcribed through the AI client (so a busy or dead node fails over to another) and
the line's sentiment is attached when the text model answers; an empty transcript (a cough, a
door) produces no caption.
"""

from __future__ import annotations

import base64
import logging

import numpy as np
import numpy.typing as npt

from meeting_shared.ai.client import AiClient
from meeting_shared.bus import EventBus
from meeting_shared.errors import MeetingError
from meeting_shared.events import AsrRequested, AsrTranscribed, Event, parse_event_data

logger = logging.getLogger(__name__)

SOURCE = "ai"


def pcm16_to_float(audio: bytes) -> npt.NDArray[np.float32]:
    samples: npt.NDArray[np.float32] = np.frombuffer(audio, dtype="<i2").astype(np.float32)
    return samples / 32768.0


class CaptionWorker:
    def __init__(self, ai: AiClient, bus: EventBus) -> None:
        self._ai = ai
        self._bus = bus

    def subscribe(self) -> None:
        self._bus.subscribe(AsrRequested.event_type, self.on_speech, name="asr")

    async def on_speech(self, event: Event) -> None:
        request = parse_event_data(event)
        assert isinstance(request, AsrRequested)
        if request.sample_rate != 16000:
            logger.warning("speech segment ignored: not 16 kHz", extra={"event_id": str(event.id)})
            return
        audio = pcm16_to_float(base64.b64decode(request.audio))
        transcription = await self._ai.transcribe(audio, request.language)
        text = transcription.text.strip()
        if not text:
            return
        emotion: str | None = None
        score: float | None = None
        try:
            cue = await self._ai.text_emotion(text)
            emotion, score = cue.label, cue.compound
        except MeetingError:  # the caption matters more than its sentiment
            logger.info("no text emotion for a caption", exc_info=True)
        line = AsrTranscribed(
            meeting_id=request.meeting_id,
            segment_id=request.segment_id,
            user_id=request.user_id,
            node_id=request.node_id,
            text=text,
            language=transcription.language,
            started_at=request.started_at,
            ended_at=request.ended_at,
            emotion=emotion,
            emotion_score=score,
        )
        await self._bus.publish([line.envelope(SOURCE)])
