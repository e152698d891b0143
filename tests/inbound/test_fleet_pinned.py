"""The router's fleet decisions pinned to exact values (mm_assistants.inbound.fleet): how
often a claim is renewed for every lease a store may report, which outcome parks a thread,
where a Responses thread continues, whether a resume sent the mail it was given, and which
thread ids a checkpoint written by another process may name."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from mm_assistants.drivers import RunOutcome
from mm_assistants.inbound.fleet import (
    FELL_BACK,
    MAX_THREAD_ID,
    META_THREAD,
    continues_at,
    follow_sent,
    heartbeat_every,
    meta_thread,
    parked_checkpoint,
    responses_input,
)
from mm_assistants.state import InboundMessage
from mm_assistants.state.routes import DEFAULT_LEASE


def _store(lease: Any) -> SimpleNamespace:
    return SimpleNamespace(lease=lease)


def _bare(status: str, **fields: Any) -> Any:
    """An outcome of a driver that knows nothing of parking: no ``checkpoint_id`` at all."""
    return SimpleNamespace(status=status, run_id=None, incomplete_reason=None, **fields)


# -- heartbeat_every ----------------------------------------------------------------------


@pytest.mark.parametrize(("lease", "every"), [(30, 10.0), (900.0, 300.0), (1.5, 0.5)])
def test_a_claim_is_renewed_every_third_of_the_stores_lease(lease: float, every: float) -> None:
    assert heartbeat_every(_store(lease)) == pytest.approx(every)


def test_the_smallest_positive_lease_is_kept() -> None:
    assert heartbeat_every(_store(0.003)) == pytest.approx(0.001)


def test_a_store_without_a_lease_gets_a_third_of_the_default_lease() -> None:
    assert heartbeat_every(object()) == pytest.approx(DEFAULT_LEASE / 3)
    assert heartbeat_every(object()) == pytest.approx(300.0)


@pytest.mark.parametrize(
    "lease",
    [0, 0.0, -1, -900.0, float("nan"), True, False, "60", None, [60], b"60"],
    ids=repr,
)
def test_a_lease_that_is_no_positive_number_falls_back_to_the_default(lease: Any) -> None:
    # A zero or negative lease would renew in a busy loop; a bool is no duration.
    assert heartbeat_every(_store(lease)) == pytest.approx(DEFAULT_LEASE / 3)


def test_the_interval_is_a_float_even_for_an_integer_lease() -> None:
    every = heartbeat_every(_store(9))
    assert type(every) is float
    assert every == 3.0


# -- parked_checkpoint --------------------------------------------------------------------


def test_a_parked_run_names_its_checkpoint() -> None:
    assert parked_checkpoint(RunOutcome(status="parked", checkpoint_id="ck_1")) == "ck_1"


@pytest.mark.parametrize("checkpoint", [None, "", 7, b"ck_1"], ids=repr)
def test_a_parked_run_without_a_usable_checkpoint_parks_nothing(checkpoint: Any) -> None:
    assert parked_checkpoint(RunOutcome(status="parked", checkpoint_id=checkpoint)) is None


@pytest.mark.parametrize("status", ["completed", "busy", "gone", "expired", "PARKED"])
def test_only_a_parked_run_parks_its_thread(status: str) -> None:
    assert parked_checkpoint(RunOutcome(status=status, checkpoint_id="ck_1")) is None


def test_an_outcome_without_a_checkpoint_field_parks_nothing() -> None:
    assert parked_checkpoint(_bare("parked")) is None
    assert parked_checkpoint(_bare("completed")) is None


# -- continues_at -------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["completed", "failed", "incomplete", "expired", "gone"])
def test_a_thread_continues_from_the_runs_last_response(status: str) -> None:
    assert continues_at(RunOutcome(status=status, run_id="resp_9")) == "resp_9"


@pytest.mark.parametrize("status", ["parked", "busy"])
def test_a_parked_or_busy_run_moves_the_thread_nowhere(status: str) -> None:
    # Even with a response id: a parked response waits for outputs only its resume sends,
    # and a busy resume did nothing.
    assert continues_at(RunOutcome(status=status, run_id="resp_9")) is None


@pytest.mark.parametrize("run_id", [None, ""])
def test_a_run_without_a_response_moves_the_thread_nowhere(run_id: str | None) -> None:
    assert continues_at(RunOutcome(status="completed", run_id=run_id)) is None


# -- follow_sent --------------------------------------------------------------------------


def test_a_resume_that_went_on_sent_its_mail() -> None:
    assert follow_sent(RunOutcome(status="completed", run_id="resp_2"), "ck_1") is True


@pytest.mark.parametrize("status", ["busy", "gone"])
def test_a_resume_that_did_nothing_sent_nothing(status: str) -> None:
    assert follow_sent(RunOutcome(status=status), "ck_1") is False


def test_a_resume_parked_again_at_the_same_step_sent_nothing() -> None:
    assert follow_sent(RunOutcome(status="parked", checkpoint_id="ck_1"), "ck_1") is False


def test_a_resume_parked_again_at_a_later_step_sent_its_mail() -> None:
    assert follow_sent(RunOutcome(status="parked", checkpoint_id="ck_2"), "ck_1") is True


def test_a_parked_outcome_without_a_checkpoint_field_counts_as_a_later_step() -> None:
    assert follow_sent(_bare("parked"), "ck_1") is True


@pytest.mark.parametrize("reason", sorted(FELL_BACK))
def test_a_resume_that_fell_back_sent_nothing(reason: str) -> None:
    assert follow_sent(RunOutcome(status="expired", incomplete_reason=reason), "ck_1") is False


@pytest.mark.parametrize("reason", [None, "max_output_tokens", "run_expired"])
def test_an_expiry_for_another_reason_still_sent_the_mail(reason: str | None) -> None:
    assert follow_sent(RunOutcome(status="expired", incomplete_reason=reason), "ck_1") is True


@pytest.mark.parametrize("reason", sorted(FELL_BACK))
def test_a_fallback_reason_without_expiry_is_no_fallback(reason: str) -> None:
    outcome = RunOutcome(status="incomplete", incomplete_reason=reason)
    assert follow_sent(outcome, "ck_1") is True


def test_the_fallback_reasons_are_exactly_the_two_documented() -> None:
    assert frozenset({"park_expired", "response_gone"}) == FELL_BACK


# -- responses_input ----------------------------------------------------------------------


def test_queued_mail_becomes_user_messages_in_order() -> None:
    queued = [InboundMessage("em_1", "first"), InboundMessage("em_2", "second")]
    assert responses_input(queued) == [
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
    ]
    assert responses_input([]) == []


# -- meta_thread --------------------------------------------------------------------------


def test_a_checkpoint_names_its_thread_under_mm_thread() -> None:
    assert META_THREAD == "mm_thread"
    assert meta_thread({"mm_thread": "thr_1"}) == "thr_1"


def test_the_longest_thread_id_is_512_characters() -> None:
    assert MAX_THREAD_ID == 512
    longest = "t" * 512
    assert meta_thread({META_THREAD: longest}) == longest
    assert meta_thread({META_THREAD: "t" * 513}) is None


@pytest.mark.parametrize(
    "meta",
    [
        None,
        "thr_1",
        ["mm_thread", "thr_1"],
        {},
        {"thread": "thr_1"},
        {META_THREAD: ""},
        {META_THREAD: None},
        {META_THREAD: 42},
        {META_THREAD: b"thr_1"},
        {META_THREAD: ["thr_1"]},
    ],
    ids=repr,
)
def test_a_meta_naming_no_short_string_thread_is_refused(meta: Any) -> None:
    assert meta_thread(meta) is None
