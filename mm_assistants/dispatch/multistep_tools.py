"""The two tools the dispatcher carries out itself, in more than one request.

- ``wait_for_email``: note the newest inbound email, then poll the inbox for anything newer
  (``since_id``) until a match arrives, ``timeout_seconds`` pass, or the call's deadline
  (a run's expiry) comes near.
- ``download_attachment``: ask for a signed link, then fetch the bytes; its decisions are
  in `mm_assistants.dispatch.attachments`, and the dispatchers do its two requests
  themselves (``_perform``).

The decisions (`WaitPlan` and the request helpers) are pure; `wait_for_email_sync` and
`wait_for_email_async` only do I/O and differ only in ``await``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mm_assistants.dispatch.sender_filter import KEEP_ALL, Sift
from mm_assistants.tools import RequestSpec

INLINE_LIMIT = 50 * 1024
DEFAULT_WAIT_SECONDS = 30
#: Stop this long before the call's deadline so the output still reaches the run.
DEADLINE_MARGIN = 2.0


@dataclass(frozen=True)
class WaitPlan:
    """When a ``wait_for_email`` call stops looking, how often it looks, and which polled
    emails count (``sift``: an exact sender filter, `mm_assistants.dispatch.sender_filter`;
    applied before "found" is decided, so a look-alike sender does not end the wait)."""

    ends_at: float
    interval: float
    sift: Sift = field(default=KEEP_ALL, repr=False)

    @classmethod
    def create(
        cls,
        now: float,
        timeout: Any,
        deadline: float | None,
        interval: float,
        sift: Sift = KEEP_ALL,
    ) -> WaitPlan:
        """Bounded by ``timeout`` seconds from ``now`` and by ``deadline`` minus a margin."""
        seconds = DEFAULT_WAIT_SECONDS if timeout is None else float(timeout)
        ends_at = now + seconds
        if deadline is not None:
            ends_at = min(ends_at, deadline - DEADLINE_MARGIN)
        return cls(ends_at=ends_at, interval=interval, sift=sift)

    def next_delay(self, now: float) -> float | None:
        """Seconds to sleep before the next look, or ``None`` when time is up."""
        remaining = self.ends_at - now
        if remaining <= 0:
            return None
        return min(self.interval, remaining)


def baseline_request(listing: RequestSpec) -> RequestSpec:
    """The request for the newest inbound email, whose id later polls start after."""
    return replace(listing, params={"direction": "inbound", "limit": "1"})


def poll_request(listing: RequestSpec, since_id: str | None) -> RequestSpec:
    """One poll: the filtered inbound listing, newer than ``since_id``."""
    params = {**listing.params, "direction": "inbound"}
    if since_id is not None:
        params["since_id"] = since_id
    return replace(listing, params=params)


def newest_id(data: Any) -> str | None:
    """The id of the first email of a listing answer."""
    emails = data.get("emails") if isinstance(data, dict) else None
    if isinstance(emails, list) and emails and isinstance(emails[0], dict):
        value = emails[0].get("id")
        return value if isinstance(value, str) else None
    return None


def found_emails(data: Any) -> list[Any]:
    """The emails a poll answered with (empty when none)."""
    emails = data.get("emails") if isinstance(data, dict) else None
    return emails if isinstance(emails, list) else []


def wait_result(
    emails: list[Any], waited: float, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The answer of a ``wait_for_email`` call (``extra``: what the sift says it left out)."""
    found = {"found": True, "emails": emails} if emails else {"found": False, "timeout": True}
    return {**found, "waited_seconds": round(waited, 1), **(extra or {})}


def wait_for_email_sync(
    send: Callable[[RequestSpec], Any],
    listing: RequestSpec,
    plan: WaitPlan,
    clock: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, dict[str, Any]]:
    """Run a ``wait_for_email`` call with a blocking client; returns (status, answer)."""
    started = clock()
    since = newest_id(send(baseline_request(listing)).data)
    while True:
        response = send(poll_request(listing, since))
        emails, extra = plan.sift(found_emails(response.data))
        delay = plan.next_delay(clock())
        if emails or delay is None:
            return response.status, wait_result(emails, clock() - started, extra)
        sleep(delay)


async def wait_for_email_async(
    send: Callable[[RequestSpec], Any],
    listing: RequestSpec,
    plan: WaitPlan,
    clock: Callable[[], float],
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> tuple[int, dict[str, Any]]:
    """`wait_for_email_sync` for an async client."""
    started = clock()
    since = newest_id((await send(baseline_request(listing))).data)
    while True:
        response = await send(poll_request(listing, since))
        emails, extra = plan.sift(found_emails(response.data))
        delay = plan.next_delay(clock())
        if emails or delay is None:
            return response.status, wait_result(emails, clock() - started, extra)
        await sleep(delay)
