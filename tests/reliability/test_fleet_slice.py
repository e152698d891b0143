"""The Celery fleet under kills (`tests.reliability.fleet_campaign`): the slice runs in
``make test`` (10 runs, 2 workers, one pool child SIGKILLed mid-way); ``make reliability``
(``MM_RELIABILITY=full``) runs the full campaign: 200 runs, 3 workers, pool children and
main processes SIGKILLed separately and restarted, Redis restarted once.

Real services only: PostgreSQL (``pg_dsn``), redis-server, ``celery worker`` processes and
the sandbox. Whatever the size, no email is sent twice, no inbound message is posted twice,
no run is lost, and every run ends in an explicit outcome.
"""

from __future__ import annotations

import os

import pytest

from tests.reliability.celery_fleet import why_no_redis
from tests.reliability.fleet_campaign import FULL, SLICE, run_campaign

pytestmark = pytest.mark.slow


@pytest.fixture
def size() -> object:
    return FULL if os.environ.get("MM_RELIABILITY") == "full" else SLICE


def test_a_fleet_under_kills_loses_nothing_and_sends_nothing_twice(
    pg_dsn: str, size: object
) -> None:
    reason = why_no_redis()
    if reason:
        pytest.skip(reason)
    pytest.importorskip(  # the engine-agnostic primitives the tasks run (issue 16 item 1)
        "mm_assistants.inbound.work", reason="mm_assistants.inbound.work (FleetWork) is missing"
    )
    findings = run_campaign(pg_dsn, size)  # type: ignore[arg-type]
    print(findings.summary())  # the figures of `make reliability` (-s shows them)
    assert findings.sent_twice == []
    assert findings.posted_twice == []
    assert findings.lost == []
    assert findings.ended == findings.runs
    assert findings.kills, "the chaos thread killed nothing: the campaign proved nothing"
