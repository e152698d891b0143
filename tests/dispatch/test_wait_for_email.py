"""wait_for_email's bound by its own timeout_seconds (a fake clock keeps it fast)."""

from __future__ import annotations

import json

import respx

from tests.dispatch.conftest import Harness, call


class TickingClock:
    """A clock that moves one second every time it is read."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_wait_for_email_stops_at_its_timeout(harness: Harness, api: respx.MockRouter) -> None:
    listing = api.get("/v1/mailboxes/mbx_1/emails").respond(200, json={"emails": []})
    result = harness.run(call("wait_for_email", {"timeout_seconds": 5}), clock=TickingClock())
    output = json.loads(result.output)
    assert (output["found"], output["timeout"]) == (False, True)
    assert 5 <= output["waited_seconds"] <= 8
    assert 2 <= listing.call_count <= 5  # the baseline, then a few polls: not an endless loop


def test_without_a_timeout_it_waits_the_default_30_seconds(
    harness: Harness, api: respx.MockRouter
) -> None:
    api.get("/v1/mailboxes/mbx_1/emails").respond(200, json={"emails": []})
    result = harness.run(call("wait_for_email", {"timeout_seconds": None}), clock=TickingClock())
    assert 30 <= json.loads(result.output)["waited_seconds"] <= 33
