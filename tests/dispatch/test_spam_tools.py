"""The v2 spam tools through the dispatcher: list_spam framed and cut to the scope,
report_spam/not_spam checked against the scope's mailboxes, and never retried blindly."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from mm_assistants.dispatch import ANY_MAILBOX
from mm_assistants.dispatch.lookups import MAX_EMAIL_LOOKUPS, lookup_mailboxes
from mm_assistants.dispatch.shaping import NOTICE
from mm_assistants.tools import load_registry
from tests.dispatch.conftest import Harness, call

V2 = load_registry("v2")
LIST = {"status": None, "limit": None, "cursor": None}
SPAM = {
    "emails": [
        {"id": "em_1", "mailbox_id": "mbx_1", "status": "spam_quarantined", "subject": "WIN"},
        {"id": "em_2", "mailbox_id": "mbx_other", "status": "spam_flagged", "subject": "x"},
        {"id": "em_3", "status": "spam_flagged", "subject": "no mailbox said"},
    ],
    "next_cursor": None,
}


def test_list_spam_shows_only_the_scope_and_counts_unplaced_items(
    harness: Harness, api: respx.MockRouter
) -> None:
    api.get("/v1/emails").mock(return_value=httpx.Response(200, json=SPAM))
    result = harness.run(call("list_spam", LIST), registry=V2, tools=["list_spam"])
    assert result.ok
    output = json.loads(result.output)
    assert [email["id"] for email in output["emails"]] == ["em_1"]
    assert output["withheld_count"] == 1  # em_3 might be ours; em_2 is not mentioned
    assert "mbx_other" not in result.output
    assert output["content_notice"] == NOTICE
    assert output["emails"][0]["untrusted"] == {"subject": "WIN"}


def test_list_spam_with_any_mailbox_shows_everything(
    harness: Harness, api: respx.MockRouter
) -> None:
    api.get("/v1/emails").mock(return_value=httpx.Response(200, json=SPAM))
    result = harness.run(
        call("list_spam", LIST), registry=V2, tools=["list_spam"], allowed_mailboxes=ANY_MAILBOX
    )
    output = json.loads(result.output)
    assert [email["id"] for email in output["emails"]] == ["em_1", "em_2", "em_3"]
    assert "withheld_count" not in output


def test_an_empty_spam_list_still_opens_with_the_notice(
    harness: Harness, api: respx.MockRouter
) -> None:
    api.get("/v1/emails").mock(return_value=httpx.Response(200, json={"emails": []}))
    result = harness.run(call("list_spam", LIST), registry=V2, tools=["list_spam"])
    assert json.loads(result.output) == {"content_notice": NOTICE, "emails": []}


@pytest.mark.parametrize("tool", ["report_spam", "not_spam"])
def test_an_email_of_the_scope_is_looked_up_then_acted_on(
    harness: Harness, api: respx.MockRouter, tool: str
) -> None:
    lookup = api.get("/v1/mailboxes/mbx_1/emails/em_1").mock(
        return_value=httpx.Response(200, json={"id": "em_1", "status": "unread"})
    )
    path = "report-spam" if tool == "report_spam" else "not-spam"
    action = api.post(f"/v1/emails/em_1/{path}").mock(
        return_value=httpx.Response(200, json={"id": "em_1", "status": "spam_quarantined"})
    )
    result = harness.run(call(tool, {"email_id": "em_1"}), registry=V2, tools=[tool])
    assert result.ok, result.output
    assert lookup.call_count == 1
    assert action.call_count == 1


@pytest.mark.parametrize("tool", ["report_spam", "not_spam"])
def test_an_email_outside_the_scope_is_refused_without_acting(
    harness: Harness, api: respx.MockRouter, tool: str
) -> None:
    misses = [
        api.get(f"/v1/mailboxes/{mailbox}/emails/em_9").mock(
            return_value=httpx.Response(404, json={"error": "Email not found"})
        )
        for mailbox in ("mbx_1", "mbx_2")
    ]
    action = api.post(url__regex=r"/v1/emails/em_9/.*").mock(return_value=httpx.Response(200))
    result = harness.run(
        call(tool, {"email_id": "em_9"}),
        registry=V2,
        tools=[tool],
        allowed_mailboxes={"mbx_1", "mbx_2"},
    )
    assert not result.ok
    assert result.error_type == "mailbox_not_allowed"
    error = json.loads(result.output)["error"]
    # The model learns why and where it may act, and nothing about the email's existence.
    assert error["message"] == "no email with this id is in this assistant's mailboxes"
    assert error["details"] == [{"allowed_mailboxes": ["mbx_1", "mbx_2"]}]
    assert [route.call_count for route in misses] == [1, 1]
    assert action.call_count == 0


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"id": "em_1", "mailbox_id": "mbx_OTHER"}, id="another-mailbox"),
        pytest.param({"status": "spam_quarantined"}, id="no-id"),
        pytest.param({}, id="empty"),
    ],
)
def test_a_lookup_answer_that_does_not_show_the_email_here_is_not_trusted(
    harness: Harness, api: respx.MockRouter, answer: dict[str, str]
) -> None:
    # A server (or a proxy) that answers 200 for a foreign path: the scope still holds.
    api.get("/v1/mailboxes/mbx_1/emails/em_1").mock(return_value=httpx.Response(200, json=answer))
    action = api.post("/v1/emails/em_1/not-spam").mock(return_value=httpx.Response(200, json={}))
    result = harness.run(call("not_spam", {"email_id": "em_1"}), registry=V2, tools=["not_spam"])
    assert result.error_type == "mailbox_not_allowed"
    assert action.call_count == 0


def test_the_lookup_tries_the_default_first_then_the_others_in_order(
    harness: Harness, api: respx.MockRouter
) -> None:
    asked: list[str] = []

    def answer(request: httpx.Request, mailbox: str) -> httpx.Response:
        asked.append(mailbox)
        if mailbox == "mbx_b":
            return httpx.Response(200, json={"id": "em_1"})
        return httpx.Response(404, json={"error": "Email not found"})

    api.get(url__regex=r"/v1/mailboxes/(?P<mailbox>[^/]+)/emails/em_1$").mock(side_effect=answer)
    api.post("/v1/emails/em_1/report-spam").mock(return_value=httpx.Response(200, json={}))
    result = harness.run(
        call("report_spam", {"email_id": "em_1"}),
        registry=V2,
        tools=["report_spam"],
        mailbox_id="mbx_z",
        allowed_mailboxes={"mbx_z", "mbx_c", "mbx_b", "mbx_a"},
    )
    assert result.ok
    assert asked == ["mbx_z", "mbx_a", "mbx_b"]  # stops at the first that has it


def test_an_unlimited_scope_acts_without_a_lookup(harness: Harness, api: respx.MockRouter) -> None:
    action = api.post("/v1/emails/em_1/report-spam").mock(
        return_value=httpx.Response(200, json={"id": "em_1", "status": "spam_quarantined"})
    )
    result = harness.run(
        call("report_spam", {"email_id": "em_1"}),
        registry=V2,
        tools=["report_spam"],
        allowed_mailboxes=ANY_MAILBOX,
    )
    assert result.ok
    assert len(api.calls) == 1
    assert action.call_count == 1


def test_a_lookup_that_fails_otherwise_is_reported_not_taken_for_a_miss(
    harness: Harness, api: respx.MockRouter
) -> None:
    api.get("/v1/mailboxes/mbx_1/emails/em_1").mock(
        return_value=httpx.Response(403, json={"error": "missing scope read"})
    )
    action = api.post("/v1/emails/em_1/report-spam").mock(return_value=httpx.Response(200))
    result = harness.run(
        call("report_spam", {"email_id": "em_1"}), registry=V2, tools=["report_spam"]
    )
    assert result.error_type == "api_error"
    assert result.http_status == 403
    assert action.call_count == 0


def test_the_lookup_is_bounded() -> None:
    scope = frozenset(f"mbx_{n:02}" for n in range(25))
    order = lookup_mailboxes("report_spam", "mbx_24", scope)
    assert len(order) == MAX_EMAIL_LOOKUPS
    assert order[:3] == ("mbx_24", "mbx_00", "mbx_01")
    assert lookup_mailboxes("read_email", "mbx_24", scope) == ()
    assert lookup_mailboxes("not_spam", None, None) == ()


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("peer closed")],
    ids=["timeout", "closed"],
)
def test_report_spam_is_not_retried_after_an_ambiguous_failure(
    harness: Harness, api: respx.MockRouter, failure: Exception
) -> None:
    route = api.post("/v1/emails/em_1/report-spam").mock(side_effect=failure)
    result = harness.run(
        call("report_spam", {"email_id": "em_1"}),
        registry=V2,
        tools=["report_spam"],
        allowed_mailboxes=ANY_MAILBOX,
    )
    assert result.error_type == "outcome_unknown"
    assert "outcome is unknown" in json.loads(result.output)["error"]["message"]
    assert route.call_count == 1


def test_list_spam_is_retried_like_any_read(harness: Harness, api: respx.MockRouter) -> None:
    route = api.get("/v1/emails").mock(
        side_effect=[httpx.ConnectError("down"), httpx.Response(200, json={"emails": []})]
    )
    assert harness.run(call("list_spam", LIST), registry=V2, tools=["list_spam"]).ok
    assert route.call_count == 2
