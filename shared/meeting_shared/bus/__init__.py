"""The event bus: committed outbox events to this process's consumers, once each per consumer."""

from meeting_shared.bus.port import EventBus, EventHandler

__all__ = ["EventBus", "EventHandler"]
