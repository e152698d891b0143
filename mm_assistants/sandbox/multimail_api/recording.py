"""`RecordingSink`: the default event sink, which keeps every event in memory for tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RecordedEvent:
    """One emitted event and the subscriptions it was meant for (secrets out of the repr)."""

    tenant_id: str
    event: str
    data: dict[str, Any]
    subscriptions: list[dict[str, Any]] = field(repr=False)


class RecordingSink:
    """Keeps events in order; thread-safe.

    Example::

        sink = RecordingSink()
        app = create_multimail_app(db_path="mm.db", clock=clock, event_sink=sink)
        ...
        assert [e.event for e in sink.events_for(email_id)] == ["oversight.pending"]
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[RecordedEvent] = []

    def emit(
        self,
        *,
        tenant_id: str,
        event: str,
        data: dict[str, Any],
        subscriptions: list[dict[str, Any]],
    ) -> None:
        """Record one event."""
        with self._lock:
            self._events.append(RecordedEvent(tenant_id, event, dict(data), list(subscriptions)))

    @property
    def events(self) -> list[RecordedEvent]:
        """All events so far, oldest first."""
        with self._lock:
            return list(self._events)

    def events_for(self, email_id: str) -> list[RecordedEvent]:
        """The events about one email."""
        return [e for e in self.events if e.data.get("email_id") == email_id]

    def clear(self) -> None:
        """Forget the events recorded so far."""
        with self._lock:
            self._events.clear()

    def __repr__(self) -> str:
        return f"RecordingSink(events={len(self.events)})"
