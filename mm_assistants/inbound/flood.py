"""Limits on inbound mail (pure decisions; the clock is injected): a flood of email must not
become a flood of model runs.

Two kinds of limit, both configured by `InboundLimits`:

- token buckets (`RateLimit`: ``burst`` emails at once, refilled at ``burst`` per
  ``period`` seconds) per sender, per MultiMail thread, optionally per sender domain, and
  one for all inbound mail together. A sender is its address lower-cased without a
  ``+tag`` (``eve+1@x`` and ``eve+2@x`` are one sender); the overall bucket bounds what
  someone who owns a domain can start by writing from a new address each time;
- ``max_pending``: how many runs a background router may have waiting or running.

What a limit turns away is not dropped: the router holds it for a person, exactly like an
email the trust gate distrusts (tagged ``needs-human`` with the reason), so nothing is lost
silently and a human decides whether the model should see it.

Example::

    router = InboundRouter(openai, dispatcher, assistant_id="asst_1", background=True,
                           limits=InboundLimits(per_sender=RateLimit(5, 3600)))
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """At most ``burst`` emails at once, refilled at ``burst`` per ``period`` seconds."""

    burst: int
    period: float

    def __post_init__(self) -> None:
        if not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"RateLimit burst must be an int >= 1, not {self.burst!r}")
        if not (math.isfinite(self.period) and self.period > 0):
            raise ValueError(f"RateLimit period must be a finite number > 0, not {self.period!r}")

    def describe(self) -> str:
        """``"20 per 3600 s"``."""
        return f"{self.burst} per {self.period:g} s"


@dataclass(frozen=True, kw_only=True)
class InboundLimits:
    """The router's flood limits; ``None`` turns a rate limit off.

    ``per_domain`` is off by default: one domain may be a large mail provider, whose many
    honest senders share it. ``overall`` bounds every inbound email together, whoever
    sends it. ``max_tracked`` bounds how many senders, domains and threads are remembered
    (the least recently seen are forgotten first), so a flood of new senders costs bounded
    memory; the overall bucket is touched by every email and so never forgotten.
    """

    per_sender: RateLimit | None = RateLimit(20, 3600.0)
    per_thread: RateLimit | None = RateLimit(30, 3600.0)
    per_domain: RateLimit | None = None
    overall: RateLimit | None = RateLimit(600, 3600.0)
    max_pending: int = 1000
    max_tracked: int = 10_000

    def __post_init__(self) -> None:
        for name in ("max_pending", "max_tracked"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"InboundLimits.{name} must be an int >= 1, not {value!r}")


@dataclass(frozen=True)
class Bucket:
    """A token bucket's state: ``tokens`` left at time ``updated``."""

    tokens: float
    updated: float


def take(bucket: Bucket | None, limit: RateLimit, now: float) -> tuple[bool, Bucket]:
    """Whether one more email fits ``limit``, and the bucket after the attempt (a token is
    spent only when it fits). A new sender or thread starts with a full bucket."""
    if bucket is None:
        bucket = Bucket(float(limit.burst), now)
    elapsed = max(0.0, now - bucket.updated)  # a clock that went back refills nothing
    tokens = min(float(limit.burst), bucket.tokens + elapsed * limit.burst / limit.period)
    if tokens >= 1.0:
        return True, Bucket(tokens - 1.0, now)
    return False, Bucket(tokens, now)


def queue_full(pending: int, limits: InboundLimits) -> str | None:
    """The reason to hold an email when ``pending`` background runs fill the queue."""
    if pending < limits.max_pending:
        return None
    return f"the inbound queue is full ({limits.max_pending} runs waiting or running)"


def sender_key(sender: str) -> str:
    """The sender a limit counts: the address lower-cased, without a ``+tag``.

    >>> sender_key("Eve+42@Example.COM")
    'eve@example.com'
    """
    address = sender.strip().lower()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    return f"{local.split('+', 1)[0]}@{domain}"


class FloodGate:
    """The token buckets of one router (thread-safe; the decisions are `take`'s).

    Example::

        gate = FloodGate(InboundLimits(per_sender=RateLimit(2, 60)))
        gate.admit("ana@example.com", "thr_1")  # None (admitted), None, then a reason
    """

    def __init__(
        self, limits: InboundLimits, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def __repr__(self) -> str:
        return f"FloodGate({self.limits!r}, tracked={len(self._buckets)})"

    def admit(self, sender: str | None, mm_thread: str | None) -> str | None:
        """``None`` when one more email from ``sender`` on ``mm_thread`` is within the
        limits (its tokens are spent), else the reason it is held (nothing is spent)."""
        limits = self.limits
        address = sender_key(sender) if sender else None
        checks: list[tuple[str, RateLimit, str]] = []
        if limits.overall is not None:
            checks.append(("all", limits.overall, "from all senders together"))
        if address and limits.per_sender is not None:
            checks.append((f"sender:{address}", limits.per_sender, "from one sender"))
        if address and "@" in address and limits.per_domain is not None:
            domain = address.rpartition("@")[2]
            checks.append((f"domain:{domain}", limits.per_domain, "from one domain"))
        if mm_thread and limits.per_thread is not None:
            checks.append((f"thread:{mm_thread}", limits.per_thread, "from one thread"))
        with self._lock:
            now = self._clock()
            updates: dict[str, Bucket] = {}
            for key, limit, kind in checks:
                fits, bucket = take(self._buckets.get(key), limit, now)
                if not fits:
                    self._remember({key: bucket})
                    return f"more mail {kind} than its limit ({limit.describe()})"
                updates[key] = bucket
            self._remember(updates)
            return None

    def _remember(self, updates: dict[str, Bucket]) -> None:
        for key, bucket in updates.items():
            self._buckets[key] = bucket
            self._buckets.move_to_end(key)
        while len(self._buckets) > self.limits.max_tracked:
            self._buckets.popitem(last=False)
