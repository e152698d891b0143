"""The fleet watcher's pure decisions (`mm_assistants.approvals.fleet`): tables for each
rule, and properties over any held list and pending set."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm_assistants.approvals import fleet
from mm_assistants.approvals.fleet import (
    MAX_PAGES,
    MAX_RETRY_AFTER,
    FleetSchedule,
    Look,
    NextCheck,
    Page,
)
from mm_assistants.state.pending import PendingRecord

SCHEDULE = FleetSchedule(min_interval=5, max_interval=120)


def record(email_id: str, mailbox_id: str = "mbx_1") -> PendingRecord:
    return PendingRecord(email_id, mailbox_id, f"call_{email_id}", "send_email", recorded_at=1.0)


class Limited(Exception):
    def __init__(self, status: int, retry_after: Any = None) -> None:
        super().__init__("no")
        self.status = status
        self.retry_after = retry_after


class Bare429(Exception):
    status = 429


# --- the list -------------------------------------------------------------------------


def test_list_params_ask_for_held_outbound_mail_a_full_page_at_a_time() -> None:
    assert fleet.list_params() == {
        "status": "pending_send_approval",
        "direction": "outbound",
        "limit": "100",
    }
    assert fleet.list_params("c2")["cursor"] == "c2"


@pytest.mark.parametrize(
    ("data", "held", "cursor"),
    [
        pytest.param(
            {"emails": [{"id": "a"}, {"id": "b"}], "cursor": "c"}, {"a", "b"}, "c", id="page"
        ),
        pytest.param({"emails": [], "cursor": None}, set(), None, id="empty-last"),
        pytest.param({"emails": [{"id": "a"}]}, {"a"}, None, id="no-cursor-key"),
        pytest.param({"emails": [{"id": "a"}], "cursor": ""}, {"a"}, None, id="empty-cursor"),
        pytest.param({"emails": [{"id": "a"}], "cursor": 7}, {"a"}, None, id="odd-cursor"),
        pytest.param(
            {
                "emails": [
                    {"id": "a", "status": "pending_send_approval"},
                    {"id": "b", "status": "rejected"},
                ]
            },
            {"a"},
            None,
            id="another-status-is-not-held",
        ),
        pytest.param(
            {"emails": [{"id": 3}, "x", None, {"status": "pending_send_approval"}, {"id": "ok"}]},
            {"ok"},
            None,
            id="odd-summaries-skipped",
        ),
    ],
)
def test_read_page(data: Any, held: set[str], cursor: str | None) -> None:
    assert fleet.read_page(data) == Page(frozenset(held), cursor)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="none"),
        pytest.param([], id="list"),
        pytest.param({"emails": None}, id="no-list"),
        pytest.param({"emails": {"id": "a"}}, id="object"),
        pytest.param({}, id="empty"),
    ],
)
def test_an_answer_that_is_no_list_is_refused(data: Any) -> None:
    with pytest.raises(ValueError, match=r"^not a list of emails$"):
        fleet.read_page(data)


@pytest.mark.parametrize(
    ("cursor", "seen", "pages", "follow"),
    [
        pytest.param("c2", set(), 1, "c2", id="next"),
        pytest.param(None, set(), 1, None, id="last-page"),
        pytest.param("c2", {"c2"}, 2, None, id="a-loop"),
        pytest.param("c3", {"c2"}, MAX_PAGES - 1, "c3", id="below-the-cap"),
        pytest.param("c3", {"c2"}, MAX_PAGES, None, id="at-the-cap"),
    ],
)
def test_next_page(cursor: str | None, seen: set[str], pages: int, follow: str | None) -> None:
    assert fleet.next_page(Page(frozenset(), cursor), seen, pages) == follow


# --- what to fetch and publish ------------------------------------------------------------


def test_exactly_the_records_no_longer_listed_are_fetched_once_each_in_order() -> None:
    records = [record("c"), record("a"), record("b"), record("c"), record("d")]
    assert fleet.to_fetch({"a", "x"}, records) == ["c", "b", "d"]
    assert fleet.to_fetch({"a", "b", "c", "d"}, records) == []
    assert fleet.to_fetch(set(), []) == []


def test_records_are_grouped_by_mailbox() -> None:
    grouped = fleet.by_mailbox([record("a", "m1"), record("b", "m2"), record("c", "m1")])
    assert {k: [r.email_id for r in v] for k, v in grouped.items()} == {
        "m1": ["a", "c"],
        "m2": ["b"],
    }


@pytest.mark.parametrize(
    ("email", "publish"),
    [
        pytest.param({"status": "rejected"}, True, id="rejected"),
        pytest.param({"status": "cancelled"}, True, id="cancelled"),
        pytest.param({"status": "send_failed"}, True, id="send-failed"),
        pytest.param({"status": "scheduled"}, True, id="scheduled"),
        pytest.param(
            {"status": "read", "approved_at": "2026-11-28T10:00:00Z"}, True, id="approved"
        ),
        pytest.param({"status": "read"}, False, id="approved-without-evidence"),
        pytest.param({"status": "approved"}, False, id="unknown"),
        pytest.param({"status": "pending_scan"}, False, id="still-scanned"),
        pytest.param({"status": "pending_send_approval"}, False, id="still-held"),
        pytest.param({}, False, id="no-status"),
        pytest.param({"id": "em_1", "status": "rejected"}, True, id="its-own-id"),
        pytest.param({"id": "em_2", "status": "rejected"}, False, id="another-email"),
        pytest.param({"id": None, "status": "rejected"}, False, id="null-id"),
        pytest.param(None, False, id="none"),
        pytest.param(["rejected"], False, id="not-an-object"),
    ],
)
def test_only_a_known_final_status_of_the_same_email_is_published(
    email: Any, publish: bool
) -> None:
    assert fleet.publishable("em_1", email) is publish


def test_the_held_digest_tells_a_changed_set_but_not_an_order() -> None:
    assert fleet.held_digest(["a", "b"]) == fleet.held_digest(["b", "a"])
    assert fleet.held_digest(["a", "b"]) != fleet.held_digest(["a"])
    assert fleet.held_digest(["ab"]) != fleet.held_digest(["a", "b"])
    # the fingerprint is of the sorted ids, one a line; an id no codec can encode is fine
    assert fleet.held_digest(["b", "a"]) == hashlib.sha256(b"a\nb").hexdigest()
    assert fleet.held_digest(["\ud800"]) != fleet.held_digest([])
    assert fleet.held_changed(None, "x") is False  # never looked: unknown, not a change
    assert fleet.held_changed("x", "x") is False
    assert fleet.held_changed("x", "y") is True


# --- the schedule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "look", "expected"),
    [
        pytest.param(5, Look(), NextCheck(10, 10), id="nothing-new-doubles"),
        pytest.param(80, Look(), NextCheck(120, 120), id="capped"),
        pytest.param(120, Look(), NextCheck(120, 120), id="stays-at-the-cap"),
        pytest.param(1, Look(), NextCheck(10, 10), id="below-the-minimum-starts-there"),
        pytest.param(80, Look(decided=1), NextCheck(5, 5), id="a-decision-resets"),
        pytest.param(80, Look(held_changed=True), NextCheck(5, 5), id="a-new-held-set-resets"),
        pytest.param(20, Look(failed=True), NextCheck(40, 40), id="an-error-backs-off"),
        pytest.param(
            20, Look(held_changed=True, failed=True), NextCheck(40, 40), id="an-error-wins-a-change"
        ),
        pytest.param(
            20, Look(decided=2, failed=True), NextCheck(5, 5), id="a-decision-wins-an-error"
        ),
        pytest.param(
            5, Look(failed=True, retry_after=30), NextCheck(30, 10), id="429-waits-its-retry-after"
        ),
        pytest.param(
            40, Look(failed=True, retry_after=30), NextCheck(80, 80), id="429-shorter-than-backoff"
        ),
        pytest.param(
            5, Look(retry_after=0.0, held_changed=True), NextCheck(10, 10), id="429-backs-off"
        ),
        pytest.param(
            5, Look(decided=1, retry_after=30), NextCheck(30, 5), id="429-after-a-decision"
        ),
    ],
)
def test_next_check(interval: float, look: Look, expected: NextCheck) -> None:
    assert fleet.next_check(SCHEDULE, interval, look) == expected


def test_a_deferred_mailbox_keeps_its_interval_and_waits_out_the_429() -> None:
    assert fleet.deferred(10, 30) == NextCheck(30, 10)
    assert fleet.deferred(60, 30) == NextCheck(60, 60)


def test_another_multiplier() -> None:
    schedule = FleetSchedule(min_interval=1, max_interval=100, multiplier=3)
    assert fleet.next_check(schedule, 2, Look()) == NextCheck(6, 6)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            {"min_interval": 0},
            "FleetSchedule.min_interval must be > 0, got 0",
            id="no-minimum",
        ),
        pytest.param(
            {"min_interval": 10, "max_interval": 5},
            "FleetSchedule.max_interval must be >= 10, got 5",
            id="max-below-min",
        ),
        pytest.param(
            {"multiplier": 0.5},
            "FleetSchedule.multiplier must be >= 1, got 0.5",
            id="shrinking",
        ),
        pytest.param(
            {"max_interval": float("inf")}, "FleetSchedule.max_interval must be", id="endless"
        ),
    ],
)
def test_a_schedule_that_cannot_work_is_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=r"^" + re.escape(message)):
        FleetSchedule(**options)


def test_the_schedule_s_edges_are_allowed() -> None:
    edge = FleetSchedule(min_interval=0.001, max_interval=0.001, multiplier=1)
    assert edge.backoff(0.001) == 0.001


def test_the_schedule_defaults() -> None:
    assert FleetSchedule() == FleetSchedule(min_interval=5.0, max_interval=120.0, multiplier=2.0)
    assert FleetSchedule(min_interval=5, max_interval=5).backoff(5) == 5


@pytest.mark.parametrize(
    ("error", "wait"),
    [
        pytest.param(Limited(429, 30), 30.0, id="retry-after"),
        pytest.param(Limited(429, 2.5), 2.5, id="fraction"),
        pytest.param(Limited(429), 0.0, id="no-header"),
        pytest.param(Limited(429, -4), 0.0, id="negative"),
        pytest.param(Limited(429, float("nan")), 0.0, id="nan"),
        pytest.param(Limited(429, True), 0.0, id="bool"),
        pytest.param(Limited(429, "30"), 0.0, id="text"),
        pytest.param(Limited(429, 10**9), MAX_RETRY_AFTER, id="absurd"),
        pytest.param(Limited(429, float("inf")), MAX_RETRY_AFTER, id="endless"),
        pytest.param(Limited(503, 30), None, id="not-a-429"),
        pytest.param(ValueError("x"), None, id="no-status"),
        pytest.param(Bare429(), 0.0, id="no-retry-after-attribute"),
    ],
)
def test_rate_limit_of(error: BaseException, wait: float | None) -> None:
    assert fleet.rate_limit_of(error) == wait


# --- properties ---------------------------------------------------------------------------

ids = st.text(alphabet="abcdef", min_size=1, max_size=3)


@given(listed=st.frozensets(ids), pending=st.lists(ids))
def test_a_record_is_fetched_if_and_only_if_it_is_not_listed(
    listed: frozenset[str], pending: list[str]
) -> None:
    fetched = fleet.to_fetch(listed, [record(email_id) for email_id in pending])
    assert set(fetched) == set(pending) - listed
    assert len(fetched) == len(set(fetched))


looks = st.builds(
    Look,
    decided=st.integers(0, 3),
    held_changed=st.booleans(),
    failed=st.booleans(),
    retry_after=st.none() | st.floats(0, MAX_RETRY_AFTER),
)


@given(interval=st.floats(0.001, 10_000), look=looks)
def test_the_next_check_stays_in_bounds_and_honours_a_429(interval: float, look: Look) -> None:
    nxt = fleet.next_check(SCHEDULE, interval, look)
    assert SCHEDULE.min_interval <= nxt.interval <= SCHEDULE.max_interval
    assert nxt.next_in >= nxt.interval
    if look.retry_after is not None:
        assert nxt.next_in >= look.retry_after
    else:
        assert nxt.next_in == nxt.interval
    if look.decided:
        assert nxt.interval == SCHEDULE.min_interval


@given(steps=st.integers(0, 20))
def test_quiet_looks_never_shrink_the_interval(steps: int) -> None:
    interval = SCHEDULE.min_interval
    for _ in range(steps):
        later = fleet.next_check(SCHEDULE, interval, Look()).interval
        assert later >= interval
        interval = later
    assert interval == min(SCHEDULE.min_interval * 2**steps, SCHEDULE.max_interval)


def test_registration_is_due_first_then_every_period_and_after_a_clock_jump_back() -> None:
    assert fleet.register_due(None, 5.0, 30.0)
    assert not fleet.register_due(100.0, 129.9, 30.0)
    assert fleet.register_due(100.0, 130.0, 30.0)
    assert fleet.register_due(100.0, 50.0, 30.0)  # the clock went back: never silenced


@given(st.floats(0, 1000), st.floats(0.1, 1000))
def test_a_claim_is_renewed_once_a_third_of_its_lease_is_gone(start: float, lease: float) -> None:
    assert not fleet.renew_due(start, start + lease / 3 * 0.99, lease)
    assert fleet.renew_due(start, start + lease / 3 + 1e-6 * lease, lease)
    assert fleet.renew_due(start, start + lease, lease)  # lapsed: try, the token decides


def test_only_mailboxes_not_looked_at_for_longer_than_after_are_forgotten() -> None:
    looked = {"mbx_old": 0.0, "mbx_edge": 400.0, "mbx_new": 990.0}
    assert fleet.forgotten(looked, 1000.0, 600.0) == ["mbx_old"]
    assert fleet.forgotten({}, 1000.0, 600.0) == []
