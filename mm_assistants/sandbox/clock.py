"""The sandbox's clock: real time plus an offset that tests and the controls can move.

Both halves of the sandbox read the same clock, so moving it forward ages held emails,
due scheduled sends and OpenAI runs alike (a run's ``expires_at`` passes, a ``send_at``
arrives) without anyone sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SandboxClock:
    """Unix seconds as ``time.time()`` plus an adjustable offset; callable like ``time.time``.

    Example::

        clock = SandboxClock()
        clock.advance(600)       # ten minutes later, for every reader of this clock
        clock.set_offset(0)      # back to real time
    """

    def __init__(self, source: Callable[[], float] = time.time, offset: float = 0.0) -> None:
        self._source = source
        self._offset = float(offset)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._source() + self._offset

    @property
    def offset(self) -> float:
        """Seconds added to the source clock."""
        with self._lock:
            return self._offset

    def set_offset(self, seconds: float) -> float:
        """Replace the offset; answers the new one."""
        with self._lock:
            self._offset = float(seconds)
            return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward (a negative value moves it back); answers the new offset."""
        with self._lock:
            self._offset += float(seconds)
            return self._offset

    def __repr__(self) -> str:
        return f"SandboxClock(offset={self.offset:g})"
