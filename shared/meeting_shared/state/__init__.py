"""Short-lived shared state: sessions, rate limits and room presence."""

from meeting_shared.state.port import RateDecision, StateStore

__all__ = ["RateDecision", "StateStore"]
