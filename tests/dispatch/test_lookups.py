"""`ScopeLookup`, the pure state machine both dispatchers drive before a call that names
only an email: which requests it asks for, when it stops, and what it decides."""

from __future__ import annotations

import pytest

from mm_assistants.dispatch.lookups import MAX_EMAIL_LOOKUPS, ScopeLookup
from mm_assistants.dispatch.policy import Refusal
from mm_assistants.multimail.errors import APIStatusError, NotFoundError
from mm_assistants.tools import load_registry

V2 = load_registry("v2")
SCOPE = frozenset({"mbx_a", "mbx_b", "mbx_c"})


def lookup(tool: str, scope: frozenset[str] | None = SCOPE) -> ScopeLookup:
    return ScopeLookup.for_call(tool, "em_1", "mbx_b", scope, V2)


def paths(machine: ScopeLookup) -> list[str]:
    """Every request the machine asks for when each lookup misses (404)."""
    seen = []
    while (request := machine.next_request()) is not None:
        seen.append(request.path)
        machine.failed(NotFoundError("not here", status=404))
    return seen


def test_an_unlimited_scope_or_a_tool_naming_its_mailbox_needs_no_lookup() -> None:
    for machine in (
        lookup("report_spam", None),
        lookup("read_email"),
        lookup("decide_email", None),
    ):
        assert machine.next_request() is None
        assert machine.verdict is None


def test_a_spam_report_looks_in_the_default_first_then_the_rest_in_order() -> None:
    machine = lookup("report_spam")
    assert paths(machine) == [
        "/v1/mailboxes/mbx_b/emails/em_1",
        "/v1/mailboxes/mbx_a/emails/em_1",
        "/v1/mailboxes/mbx_c/emails/em_1",
    ]
    assert isinstance(machine.verdict, Refusal)
    assert machine.verdict.type == "mailbox_not_allowed"


def test_finding_the_email_ends_the_lookup_and_lets_the_call_through() -> None:
    machine = lookup("not_spam")
    machine.failed(NotFoundError("not here", status=404))
    machine.answered({"id": "em_1", "status": "spam_quarantined"})
    assert machine.next_request() is None  # mbx_c is never asked
    assert machine.verdict is None


def test_an_answer_about_another_email_is_not_a_find() -> None:
    machine = lookup("report_spam")
    machine.answered({"id": "em_other"})
    assert machine.next_request() is not None
    assert isinstance(machine.verdict, Refusal)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({}, id="empty"),
        pytest.param({"status": "unread"}, id="no-id"),
        pytest.param({"id": "em_1", "mailbox_id": "mbx_other"}, id="another-mailbox"),
        pytest.param({"id": "em_1", "mailbox_id": "mbx_a"}, id="a-scope-mailbox-not-asked"),
        pytest.param([{"id": "em_1"}], id="a-list"),
    ],
)
def test_an_answer_that_does_not_show_the_email_in_the_mailbox_asked_is_not_a_find(
    answer: object,
) -> None:
    machine = lookup("not_spam")  # asks mbx_b first
    machine.answered(answer)
    assert machine.next_request() is not None  # looks on in mbx_a
    assert isinstance(machine.verdict, Refusal)


def test_an_answer_naming_the_mailbox_asked_is_a_find() -> None:
    machine = lookup("report_spam")
    machine.answered({"id": "em_1", "mailbox_id": "mbx_b", "status": "unread"})
    assert machine.next_request() is None
    assert machine.verdict is None


def test_an_error_other_than_not_found_ends_the_lookup_as_the_verdict() -> None:
    machine = lookup("report_spam")
    error = APIStatusError("missing scope read", status=403)
    machine.failed(error)
    assert machine.next_request() is None
    assert machine.verdict is error


def test_a_decision_looks_once_at_the_held_listing_and_a_404_there_is_reported() -> None:
    machine = lookup("decide_email")
    request = machine.next_request()
    assert request is not None
    assert request.tool == "list_pending"
    error = NotFoundError("gone", status=404)
    machine.failed(error)
    assert machine.verdict is error


def test_a_decision_on_a_held_email_of_the_scope_goes_ahead() -> None:
    machine = lookup("decide_email")
    machine.answered({"emails": [{"id": "em_1", "mailbox_id": "mbx_c"}]})
    assert machine.next_request() is None
    assert machine.verdict is None


def test_a_decision_on_an_email_held_elsewhere_is_refused() -> None:
    machine = lookup("decide_email")
    machine.answered({"emails": [{"id": "em_1", "mailbox_id": "mbx_other"}]})
    assert machine.next_request() is None
    assert isinstance(machine.verdict, Refusal)
    assert "held for approval" in machine.verdict.message


def test_a_wide_scope_is_looked_in_at_most_the_bound_and_says_so() -> None:
    wide = frozenset(f"mbx_{n:02}" for n in range(MAX_EMAIL_LOOKUPS + 5))
    machine = ScopeLookup.for_call("report_spam", "em_1", None, wide, V2)
    assert len(paths(machine)) == MAX_EMAIL_LOOKUPS
    assert isinstance(machine.verdict, Refusal)
    assert f"the first {MAX_EMAIL_LOOKUPS}" in machine.verdict.message


@pytest.mark.parametrize(
    ("size", "suffix"),
    [
        pytest.param(MAX_EMAIL_LOOKUPS, "", id="at-the-bound"),
        pytest.param(MAX_EMAIL_LOOKUPS + 1, f" (the first {MAX_EMAIL_LOOKUPS})", id="over"),
    ],
)
def test_the_refusal_says_the_search_was_partial_only_when_it_was(size: int, suffix: str) -> None:
    scope = frozenset(f"mbx_{n:02}" for n in range(size))
    machine = ScopeLookup.for_call("not_spam", "em_1", None, scope, V2)
    assert len(paths(machine)) == MAX_EMAIL_LOOKUPS
    assert machine.verdict == Refusal(
        "mailbox_not_allowed",
        f"no email with this id is in this assistant's mailboxes{suffix}",
        [{"allowed_mailboxes": sorted(scope)}],
    )


def test_a_lookup_given_fewer_mailboxes_than_requests_is_refused_at_construction() -> None:
    # Pairing them up silently would drop a request, and with it a mailbox of the scope.
    requests = tuple(
        V2.bind("read_email", {"email_id": "em_1"}, mailbox_id=mailbox)
        for mailbox in ("mbx_a", "mbx_b")
    )
    with pytest.raises(ValueError):
        ScopeLookup("report_spam", "em_1", SCOPE, requests, ("mbx_a",))
