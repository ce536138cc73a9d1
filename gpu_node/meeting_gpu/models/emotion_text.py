"""``emotion_text``: the sentiment of a caption or chat line, with VADER (rule-based, English)."""

from __future__ import annotations

from typing import Any

from meeting_gpu.models.base import InvalidInput

MAX_CHARS = 5000
# VADER's own thresholds on the compound score.
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05


class TextEmotion:
    def __init__(self) -> None:
        self._analyzer: Any = None
        self.device = "cpu"  # a lexicon: nothing to put on a GPU

    def load(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def __call__(self, text: str) -> dict[str, Any]:
        text = text.strip()
        if not text:
            raise InvalidInput("text is empty")
        if len(text) > MAX_CHARS:
            raise InvalidInput(f"text is longer than {MAX_CHARS} characters")
        scores = self._analyzer.polarity_scores(text)
        compound = float(scores["compound"])
        if compound >= POSITIVE_AT:
            label = "positive"
        elif compound <= NEGATIVE_AT:
            label = "negative"
        else:
            label = "neutral"
        return {
            "label": label,
            "compound": compound,
            "scores": {key: float(scores[key]) for key in ("neg", "neu", "pos")},
        }
