"""The state contract's value types and boundaries, pinned (issue 15 mutation review): when
a deferred checkpoint is due and a lapsed claim counts, what a claim's messages carry, what
the reprs show (a stranger's words never), and a PID namespace link that is not one."""

from __future__ import annotations

import os

import pytest

from mm_assistants.state import owners
from mm_assistants.state.checkpoints import Checkpoint, claim_holds
from mm_assistants.state.routes import ClaimedMessages, FailedThread, InboundMessage


def checkpoint(**given: object) -> Checkpoint:
    return Checkpoint("ck_1", b"state", 1, 50.0, **given)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("next_attempt_at", "now", "due"),
    [
        pytest.param(None, 100.0, True, id="no-backoff"),
        pytest.param(99.0, 100.0, True, id="ran-out"),
        pytest.param(100.0, 100.0, True, id="runs-out-now"),
        pytest.param(100.5, 100.0, False, id="still-backing-off"),
    ],
)
def test_a_deferred_checkpoint_is_due_from_its_next_attempt_on(
    next_attempt_at: float | None, now: float, due: bool
) -> None:
    assert checkpoint(next_attempt_at=next_attempt_at).due(now) is due


@pytest.mark.parametrize(
    ("claimed_until", "attempts", "now", "lost"),
    [
        pytest.param(None, 0, 100.0, 0, id="never-claimed"),
        pytest.param(None, 2, 100.0, 2, id="released-after-two-take-overs"),
        pytest.param(101.0, 1, 100.0, 1, id="claim-holds"),
        pytest.param(100.0, 1, 100.0, 2, id="claim-lapses-now"),
        pytest.param(99.0, 0, 100.0, 1, id="claim-lapsed"),
    ],
)
def test_a_claim_counts_as_lost_the_moment_it_stops_holding(
    claimed_until: float | None, attempts: int, now: float, lost: int
) -> None:
    found = checkpoint(claimed_until=claimed_until, attempts=attempts)
    assert found.lost_claims(now) == lost
    # the same moment both ways: a claim that no longer holds is a lost one
    lapsed = claimed_until is not None and not claim_holds(found, now)
    assert found.lost_claims(now) == attempts + lapsed


def test_claimed_messages_are_a_list_with_the_claims_token_and_no_attempts_by_default() -> None:
    first = InboundMessage("em_1", "hello", received_at=1.0)
    claimed = ClaimedMessages([first], token=7)
    assert claimed == [first]
    assert (claimed.token, claimed.attempts) == (7, 0)
    assert ClaimedMessages([], token=8, attempts=2).attempts == 2


def test_claimed_messages_show_their_messages_token_and_attempts() -> None:
    first = InboundMessage("em_1", "hello", received_at=1.0)
    assert repr(ClaimedMessages([first], token=7, attempts=1)) == (
        f"ClaimedMessages([{first!r}], token=7, attempts=1)"
    )
    assert repr(ClaimedMessages([], token=3)) == "ClaimedMessages([], token=3, attempts=0)"


def test_a_failed_thread_shows_its_email_ids_never_their_words() -> None:
    failed = FailedThread(
        "thr_1",
        reason="lost 3 workers",
        failed_at=5.0,
        messages=(
            InboundMessage("em_1", "my password is hunter2", received_at=1.0),
            InboundMessage("em_2", "call me", received_at=2.0),
        ),
    )
    shown = repr(failed)
    assert shown == "FailedThread('thr_1', reason='lost 3 workers', emails=['em_1', 'em_2'])"
    assert "hunter2" not in shown
    assert repr(FailedThread("thr_2", reason="r", failed_at=0.0)) == (
        "FailedThread('thr_2', reason='r', emails=[])"
    )


@pytest.mark.parametrize(
    "link",
    [
        pytest.param("pid:[4026531836X]", id="letter-before-bracket"),
        pytest.param("pid:[4026531836]X", id="letter-after-bracket"),
    ],
)
def test_a_namespace_link_that_is_not_digits_in_brackets_names_no_namespace(
    monkeypatch: pytest.MonkeyPatch, link: str
) -> None:
    # a host never reads a namespace out of a malformed link: it names itself by host name
    monkeypatch.setattr(os, "readlink", lambda path: link)
    assert owners._pid_namespace() == ""
