"""The sandbox serves the review page at ``/review`` over its own queue, in process."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from mm_assistants.review import ReviewError
from mm_assistants.sandbox import Sandbox
from mm_assistants.sandbox.review import SandboxReviewBackend
from tests.review.conftest import hold, page_headers, status_of


def test_review_without_its_slash_leads_to_the_page(mm_sandbox: Sandbox) -> None:
    bare = httpx.get(f"{mm_sandbox.base_url}/review", timeout=5)
    assert bare.status_code == 307
    assert bare.headers["location"].endswith("/review/")
    page = httpx.get(f"{mm_sandbox.base_url}/review", follow_redirects=True, timeout=5)
    assert page.status_code == 200
    assert "<title>Review queue</title>" in page.text
    assert mm_sandbox.keys["oversight"] not in page.text
    assert mm_sandbox.keys["admin"] not in page.text


def test_the_page_lists_the_seeded_tenants_held_sends(mm_sandbox: Sandbox) -> None:
    email_id = hold(mm_sandbox, subject="Re: your order")
    answer = httpx.get(f"{mm_sandbox.base_url}/review/api/pending", timeout=5)
    [row] = answer.json()["emails"]
    assert row["id"] == email_id
    assert row["subject"] == "Re: your order"
    assert row["to"] == ["bob@example.com"]
    assert row["status"] == "pending_send_approval"
    assert [e["id"] for e in mm_sandbox.multimail.pending()] == [email_id]
    for key in mm_sandbox.keys.values():
        assert key not in answer.text


def test_approving_on_the_page_sends_the_email(mm_sandbox: Sandbox) -> None:
    email_id = hold(mm_sandbox)
    answer = httpx.post(
        f"{mm_sandbox.base_url}/review/api/decide",
        json={"email_id": email_id, "action": "approve"},
        headers=page_headers(mm_sandbox),
        timeout=5,
    )
    assert answer.json() == {"id": email_id, "action": "approve", "status": "approved_and_sent"}
    assert mm_sandbox.multimail.pending() == []
    email = mm_sandbox.multimail.email(email_id)
    assert email is not None
    assert "@" in email["approved_by"]  # the tenant's operator, not a key


def test_rejecting_records_the_reason(mm_sandbox: Sandbox) -> None:
    email_id = hold(mm_sandbox)
    httpx.post(
        f"{mm_sandbox.base_url}/review/api/decide",
        json={"email_id": email_id, "action": "reject", "reason": "Wrong figures"},
        headers=page_headers(mm_sandbox),
        timeout=5,
    ).raise_for_status()
    assert status_of(mm_sandbox, email_id) == "rejected"
    email = mm_sandbox.multimail.email(email_id)
    assert email is not None
    assert email["rejection_reason"] == "Wrong figures"


def test_an_unknown_or_decided_email_is_refused_with_its_status(mm_sandbox: Sandbox) -> None:
    email_id = hold(mm_sandbox)
    mm_sandbox.multimail.decide(email_id, "approve")
    url = f"{mm_sandbox.base_url}/review/api/decide"
    headers = page_headers(mm_sandbox)
    unknown = httpx.post(url, json={"email_id": "em_nope", "action": "approve"}, headers=headers)
    decided = httpx.post(url, json={"email_id": email_id, "action": "approve"}, headers=headers)
    assert unknown.status_code == 404
    assert "unknown email id em_nope" in unknown.json()["error"]
    assert decided.status_code == 409
    assert "not waiting for a decision" in decided.json()["error"]


def test_the_page_is_not_part_of_multimails_api(mm_sandbox: Sandbox) -> None:
    mm_sandbox.counters.snapshot(reset=True)
    httpx.get(f"{mm_sandbox.base_url}/review/api/pending", timeout=5).raise_for_status()
    assert mm_sandbox.counters.snapshot()["total"] == 0


class FakeControl:
    """The two control calls the backend makes, with a queue that can change under it."""

    def __init__(self, pending: list[dict[str, Any]], known: set[str]) -> None:
        self._pending = pending
        self._known = known

    def pending(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        return self._pending

    def email(self, email_id: str) -> dict[str, Any] | None:
        return {"id": email_id} if email_id in self._known else None

    def decide(self, email_id: str, action: str, reason: str | None) -> dict[str, Any]:
        raise ValueError("Email is not pending approval (status: read)")


async def test_an_email_outside_the_tenants_queue_is_never_decided() -> None:
    backend = SandboxReviewBackend(FakeControl([], {"em_other"}))  # type: ignore[arg-type]
    with pytest.raises(ReviewError, match="not waiting for a decision") as caught:
        await backend.decide("em_other", "approve", None)
    assert caught.value.status == 409


async def test_a_decision_that_lost_a_race_is_a_409() -> None:
    control = FakeControl([{"id": "em_1"}], {"em_1"})
    with pytest.raises(ReviewError, match="status: read") as caught:
        await SandboxReviewBackend(control).decide("em_1", "approve", None)  # type: ignore[arg-type]
    assert caught.value.status == 409


def test_the_sandboxs_page_refuses_a_rebound_name(mm_sandbox: Sandbox) -> None:
    email_id = hold(mm_sandbox)
    rebound = {"Host": f"attacker.example:{mm_sandbox.port}"}
    url = f"{mm_sandbox.base_url}/review"
    assert httpx.get(f"{url}/", headers=rebound, timeout=5).status_code == 400
    listed = httpx.get(f"{url}/api/pending", headers=rebound, timeout=5)
    assert listed.status_code == 400
    assert email_id not in listed.text
    decision = {"email_id": email_id, "action": "approve"}
    headers = {**page_headers(mm_sandbox), **rebound}
    assert httpx.post(f"{url}/api/decide", json=decision, headers=headers).status_code == 400
    assert status_of(mm_sandbox, email_id) == "pending_send_approval"


def test_a_held_reply_is_listed_with_the_email_it_answers(mm_sandbox: Sandbox) -> None:
    inbound = mm_sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject="Can we move the call?", markdown="Hi,\n\n3 pm?"
    )
    httpx.post(
        f"{mm_sandbox.multimail_url}/v1/mailboxes/{mm_sandbox.mailbox_id}/reply/{inbound['id']}",
        json={"markdown": "Yes, 3 pm works."},
        headers={"Authorization": f"Bearer {mm_sandbox.keys['send']}"},
        timeout=5,
    ).raise_for_status()
    hold(mm_sandbox, subject="A new email")
    rows = httpx.get(f"{mm_sandbox.base_url}/review/api/pending", timeout=5).json()["emails"]
    originals = {row["subject"]: row["original"] for row in rows}
    assert originals["A new email"] is None
    reply = originals["Re: Can we move the call?"]
    assert reply["id"] == inbound["id"]
    assert reply["from"] == "ana@customer.example"
    assert reply["subject"] == "Can we move the call?"
    assert reply["preview"] == ["Hi,", "3 pm?"]
    # read in process: the original's status is not changed by the page
    assert status_of(mm_sandbox, inbound["id"]) == inbound["status"]


def test_the_sandboxs_page_says_it_is_the_sandbox(mm_sandbox: Sandbox) -> None:
    page = httpx.get(f"{mm_sandbox.base_url}/review/", timeout=5).text
    assert re.search(r'<p id="sandbox-banner" class="banner" role="note" >Sandbox:', page)
