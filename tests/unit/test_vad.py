"""Streaming voice activity detection on real (synthesized) speech, and the segmenter's rules."""

from __future__ import annotations

import itertools
import time

import numpy as np
import numpy.typing as npt
import pytest

from meeting_sfu.media.vad import (
    SAMPLE_RATE,
    WINDOW,
    Samples,
    Segment,
    SileroVad,
    SpeechSegmenter,
    model_path,
)
from tests.support.media_client import speech

pytestmark = pytest.mark.unit

FIRST = "The quick brown fox jumps over the lazy dog."
SECOND = "Captions should appear on the screen soon after each sentence."
MONOLOGUE = (
    "and so the meeting went on and on while everybody kept talking about the budget "
    "and the schedule and the many reasons why the release was late again this quarter "
    "and nobody wanted to stop for a moment to let anyone else say anything at all "
    "because there was always one more thing to add to the list of things to discuss"
)


def silence(seconds: float) -> Samples:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def stream(segmenter: SpeechSegmenter, audio: Samples, piece: int = 1600) -> list[Segment]:
    """Feed ``audio`` the way a tap does (100 ms at a time), then end the stream."""
    segments: list[Segment] = []
    for start in range(0, len(audio), piece):
        segments += segmenter.push(audio[start : start + piece])
    return segments + segmenter.flush()


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


@pytest.fixture
def segmenter(vad: SileroVad) -> SpeechSegmenter:
    vad.reset()
    return SpeechSegmenter(vad)


def test_the_model_ships_with_faster_whisper() -> None:
    path = model_path()
    assert path.name == "silero_vad_v6.onnx" and path.stat().st_size > 100_000


def test_streaming_scores_match_faster_whispers_offline_ones(vad: SileroVad) -> None:
    from faster_whisper.vad import SileroVADModel  # the reference: scores a whole file at once

    audio = np.concatenate((silence(0.3), speech(FIRST, SAMPLE_RATE), silence(0.3)))
    audio = audio[: len(audio) // WINDOW * WINDOW]
    expected = SileroVADModel(str(model_path()))(audio).reshape(-1)
    vad.reset()
    pieces = [vad(audio[start : start + 300]) for start in range(0, len(audio), 300)]
    scores = np.concatenate(pieces)  # odd-sized pieces: windows straddle calls
    assert scores.shape == expected.shape
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    assert scores.max() > 0.9 and scores[:5].max() < 0.2  # speech is found, silence is not


def test_two_utterances_become_two_segments_at_the_right_places(
    segmenter: SpeechSegmenter,
) -> None:
    first, second = speech(FIRST, SAMPLE_RATE), speech(SECOND, SAMPLE_RATE)
    parts = [silence(0.7), first, silence(1.5), second, silence(1.0)]
    audio = np.concatenate(parts)
    bounds = np.cumsum([0, *map(len, parts)]) / SAMPLE_RATE
    truth = [(bounds[1], bounds[2]), (bounds[3], bounds[4])]

    segments = stream(segmenter, audio)

    assert len(segments) == 2
    for segment, (start, end) in zip(segments, truth, strict=True):
        assert abs(segment.start / SAMPLE_RATE - start) < 0.3, (segment.start, start)
        assert abs(segment.end / SAMPLE_RATE - end) < 0.3, (segment.end, end)
        np.testing.assert_array_equal(segment.samples, audio[segment.start : segment.end])
    assert segments[0].end <= segments[1].start


def test_a_segment_is_complete_soon_after_speech_ends(segmenter: SpeechSegmenter) -> None:
    """Caption latency: the segment comes out ~min_silence after the last word, not later."""
    audio = np.concatenate((silence(0.5), speech(FIRST, SAMPLE_RATE), silence(2.0)))
    speech_end = len(audio) - len(silence(2.0))
    for start in range(0, len(audio), 320):
        if segmenter.push(audio[start : start + 320]):
            latency = (start + 320 - speech_end) / SAMPLE_RATE
            assert 0.3 < latency < 0.8, latency
            return
    pytest.fail("no segment came out")


@pytest.mark.parametrize("level", [0.0, 0.003, 0.02])
def test_silence_and_quiet_noise_are_not_speech(segmenter: SpeechSegmenter, level: float) -> None:
    noise = np.random.default_rng(7).normal(0.0, level, 10 * SAMPLE_RATE).astype(np.float32)
    assert stream(segmenter, noise) == []
    assert not segmenter.in_speech


def test_a_long_monologue_is_cut_into_short_segments_that_cover_it(
    segmenter: SpeechSegmenter,
) -> None:
    talk = speech(MONOLOGUE, SAMPLE_RATE)
    while len(talk) < 20 * SAMPLE_RATE:
        talk = np.concatenate((talk, speech(MONOLOGUE, SAMPLE_RATE)))
    audio = np.concatenate((silence(0.5), talk, silence(1.0)))
    talk_start, talk_end = len(silence(0.5)), len(silence(0.5)) + len(talk)

    segments = stream(segmenter, audio)

    assert len(segments) >= 3
    assert all(segment.duration <= 8.0 for segment in segments)
    for before, after in itertools.pairwise(segments):
        assert before.end <= after.start  # no overlap, so no word is captioned twice
    covered = np.zeros(len(audio), dtype=bool)
    for segment in segments:
        covered[segment.start : segment.end] = True
    spoken = loud_samples(audio)
    assert covered[spoken].mean() > 0.97
    assert segments[0].start < talk_start + 0.3 * SAMPLE_RATE
    assert segments[-1].end > talk_end - 0.3 * SAMPLE_RATE


def loud_samples(audio: Samples) -> npt.NDArray[np.bool_]:
    """Samples in 20 ms frames with speech energy."""
    frame = SAMPLE_RATE // 50
    usable = len(audio) // frame * frame
    energy = np.sqrt((audio[:usable].reshape(-1, frame) ** 2).mean(axis=1))
    mask = np.repeat(energy > 0.02, frame)
    return np.concatenate((mask, np.zeros(len(audio) - usable, dtype=bool)))


def test_the_vad_is_cheap_enough_for_every_speaker(vad: SileroVad) -> None:
    audio = np.tile(speech(FIRST, SAMPLE_RATE), 4)
    vad.reset()
    vad(audio[:1600])  # the first run sets onnxruntime up
    started = time.process_time()
    for start in range(1600, len(audio), 1600):
        vad(audio[start : start + 1600])
    cpu = time.process_time() - started
    # ~2 ms per second of audio measured; the bound leaves room for a busy machine.
    assert cpu / (len(audio) / SAMPLE_RATE) < 0.02


# --- the segmenter's rules, on scripted scores -------------------------------------------------


class ScriptedVad:
    """Scores windows from a script instead of a model."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = scores
        self._windows = 0
        self._pending = 0

    def __call__(self, samples: Samples, /) -> Samples:
        self._pending += len(samples)
        count, self._pending = divmod(self._pending, WINDOW)
        scores = self.scores[self._windows : self._windows + count]
        self._windows += count
        return np.asarray(scores + [0.0] * (count - len(scores)), dtype=np.float32)


def scripted(*runs: tuple[float, float]) -> tuple[SpeechSegmenter, Samples]:
    """A segmenter scripted with (score, seconds) runs, and audio as long as the script whose
    samples count up (so that a segment's samples show where they came from)."""
    scores: list[float] = []
    for score, seconds in runs:
        scores += [score] * round(seconds * SAMPLE_RATE / WINDOW)
    audio = np.arange(len(scores) * WINDOW, dtype=np.float32)
    return SpeechSegmenter(ScriptedVad(scores)), audio


def windows(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE / WINDOW) * WINDOW


def test_padding_and_the_silence_needed_to_end() -> None:
    segmenter, audio = scripted((0.0, 1.0), (0.9, 1.0), (0.1, 0.3), (0.9, 0.5), (0.1, 1.0))
    (segment,) = stream(segmenter, audio)  # a 0.3 s pause does not end speech
    pad = round(0.1 * SAMPLE_RATE)
    assert segment.start == windows(1.0) - pad
    assert segment.end == windows(1.0) + windows(1.0) + windows(0.3) + windows(0.5) + pad
    np.testing.assert_array_equal(segment.samples, audio[segment.start : segment.end])


def test_scores_between_the_thresholds_neither_start_nor_end_speech() -> None:
    segmenter, audio = scripted((0.45, 1.0), (0.8, 0.5), (0.4, 1.5), (0.1, 1.0))
    (segment,) = stream(segmenter, audio)
    assert segment.start == windows(1.0) - round(0.1 * SAMPLE_RATE)
    assert segment.end == windows(1.0) + windows(0.5) + windows(1.5) + round(0.1 * SAMPLE_RATE)


def test_short_blips_are_dropped() -> None:
    segmenter, audio = scripted((0.0, 0.5), (0.9, 0.2), (0.0, 1.0), (0.9, 0.3), (0.0, 1.0))
    (segment,) = stream(segmenter, audio)
    assert segment.start == windows(0.5) + windows(0.2) + windows(1.0) - round(0.1 * SAMPLE_RATE)


def test_speech_is_cut_at_eight_seconds_where_it_is_weakest() -> None:
    dip = windows(0.5) + windows(6.0)
    segmenter, audio = scripted((0.0, 0.5), (0.9, 6.0), (0.4, 0.1), (0.9, 6.0), (0.0, 1.0))
    segments = stream(segmenter, audio)
    assert [len(s.samples) for s in segments] == [s.end - s.start for s in segments]
    first, second = segments
    assert first.duration <= 8.0 and dip <= first.end <= dip + windows(0.1)
    assert second.start == first.end  # the monologue goes on in the next segment


def test_flush_delivers_speech_in_progress_only_if_long_enough() -> None:
    segmenter, audio = scripted((0.0, 0.5), (0.9, 1.0))
    segments = stream(segmenter, audio)
    assert len(segments) == 1 and segments[0].end == len(audio)
    segmenter, audio = scripted((0.0, 0.5), (0.9, 0.1))
    assert stream(segmenter, audio) == []
