"""Which webhook deliveries were accepted already: the receiver's replay memory.

A captured delivery stays correctly signed forever, so the receiver remembers every one it
accepted (by delivery id, event id and a digest of the signed body) at least as long as the
delivery could still pass the freshness check, and refuses a second copy.

`SeenDeliveries` is the protocol: ``claim(keys, now=..., keep_until=...)`` is "first to
insert wins" (atomic, also across processes for a shared backend), ``release(keys)`` forgets
a delivery whose handling failed so MultiMail's retry is taken. The caller says what time it
is (the receiver's clock, which also judged the delivery's freshness), so a store needs no
clock of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

#: How many keys a `MemorySeenStore` holds before it forgets the soonest to expire.
DEFAULT_MAX_ENTRIES = 100_000


@runtime_checkable
class SeenDeliveries(Protocol):
    """A memory of accepted deliveries (see the module docstring)."""

    def claim(self, keys: Sequence[str], *, now: float, keep_until: float) -> bool:
        """Remember ``keys`` until ``keep_until`` and return True, or return False,
        remembering nothing, when one of them is remembered past ``now`` already (both unix
        seconds). Atomic: of two callers claiming the same key, exactly one wins."""

    def release(self, keys: Sequence[str]) -> None:
        """Forget ``keys`` (a delivery whose handling failed, so its retry is taken)."""
