"""Sending under each oversight mode, the oversight queue, cancel, scheduling,
idempotency and reply de-duplication; the clock is moved, never slept on."""

from __future__ import annotations

import httpx
import pytest

from mm_assistants.sandbox.multimail_api import MultiMailSandboxSettings
from tests.sandbox.multimail_api.conftest import Sandbox, Start, send_body


def set_mode(sandbox: Sandbox, mode: str) -> None:
    """Put the seed mailbox in ``mode`` through the operator's upgrade code if needed."""
    admin = sandbox.client("admin")
    answer = admin.patch(sandbox.mb, json={"oversight_mode": mode})
    if answer.status_code == 403:
        admin.post(f"{sandbox.mb}/request-upgrade", json={"target_mode": mode})
        code = sandbox.control.codes("upgrade")[-1]["id"]
        answer = admin.post(f"{sandbox.mb}/upgrade", json={"code": code})
    assert answer.status_code == 200, answer.text


def status_of(sandbox: Sandbox, email_id: str) -> str:
    email = sandbox.control.email(email_id)
    assert email is not None
    return str(email["status"])


def test_a_gated_send_is_held_and_emits_one_pending_event(
    sandbox: Sandbox, sender: httpx.Client, overseer: httpx.Client
) -> None:
    answer = sender.post(f"{sandbox.mb}/send", json=send_body())
    assert answer.status_code == 202
    sent = answer.json()
    assert sent["status"] == "pending_scan"
    assert sent["thread_id"].startswith("thr_")
    assert overseer.get("/v1/oversight/pending").json() == {"emails": []}
    sandbox.advance(0.5)
    for _ in range(3):  # every request settles; the event still fires once
        pending = overseer.get("/v1/oversight/pending").json()["emails"]
    assert [p["id"] for p in pending] == [sent["id"]]
    assert pending[0]["body_markdown"] == "Hi Bob"
    assert pending[0]["status"] == "pending_send_approval"
    events = [e.event for e in sandbox.sink.events_for(sent["id"])]
    assert events == ["oversight.pending"]


def test_approve_sends_and_a_second_decision_is_409(
    sandbox: Sandbox, sender: httpx.Client, overseer: httpx.Client
) -> None:
    sent = sender.post(f"{sandbox.mb}/send", json=send_body()).json()
    sandbox.advance(1)
    decide = {"email_id": sent["id"], "action": "approve"}
    answer = overseer.post("/v1/oversight/decide", json=decide)
    assert answer.json()["status"] == "approved_and_sent"
    email = sandbox.client("read").get(f"{sandbox.mb}/emails/{sent['id']}").json()
    assert email["approved_by"]
    assert email["approved_at"]
    assert email["delivered_at"]
    assert email["status"] == "read"
    again = overseer.post("/v1/oversight/decide", json=decide)
    assert again.status_code == 409
    assert "not pending approval" in again.json()["error"]
    cancel = sender.post(f"{sandbox.mb}/emails/{sent['id']}/cancel")
    assert cancel.status_code == 409
    events = [e.event for e in sandbox.sink.events_for(sent["id"])]
    assert events == ["oversight.pending", "oversight.approved", "message.sent"]
    approved = sandbox.sink.events_for(sent["id"])[1].data
    assert approved["decided_by"] == email["approved_by"]
    assert [m["kind"] for m in sandbox.control.sent()] == ["delivery"]


def test_reject_keeps_the_reason(
    sandbox: Sandbox, sender: httpx.Client, overseer: httpx.Client
) -> None:
    sent = sender.post(f"{sandbox.mb}/send", json=send_body()).json()
    sandbox.advance(1)
    decide = {"email_id": sent["id"], "action": "reject", "reason": "too pushy"}
    assert overseer.post("/v1/oversight/decide", json=decide).json()["status"] == "rejected"
    email = sandbox.control.email(sent["id"])
    assert email is not None
    assert (email["status"], email["rejection_reason"]) == ("rejected", "too pushy")
    rejected = sandbox.sink.events_for(sent["id"])[-1]
    assert (rejected.event, rejected.data["reason"]) == ("oversight.rejected", "too pushy")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"email_id": "em_nope", "action": "approve"}, 404, id="unknown"),
        pytest.param({"action": "approve"}, 404, id="no-id"),
        pytest.param({"email_id": "x", "action": "maybe"}, 400, id="bad-action"),
    ],
)
def test_decide_refusals(overseer: httpx.Client, body: dict[str, str], status: int) -> None:
    assert overseer.post("/v1/oversight/decide", json=body).status_code == status


@pytest.mark.parametrize("mode", ["monitored", "autonomous"])
def test_ungated_modes_deliver_after_the_scan(
    sandbox: Sandbox, sender: httpx.Client, mode: str
) -> None:
    set_mode(sandbox, mode)
    sent = sender.post(f"{sandbox.mb}/send", json=send_body()).json()
    assert sent["status"] == "pending_scan"
    sandbox.advance(0.5)
    assert status_of(sandbox, sent["id"]) == "read"
    kinds = [m["kind"] for m in sandbox.control.sent()]
    assert kinds == (["delivery", "operator_copy"] if mode == "monitored" else ["delivery"])
    assert [e.event for e in sandbox.sink.events_for(sent["id"])] == ["message.sent"]


def test_read_only_refuses_sends_and_replies(sandbox: Sandbox, sender: httpx.Client) -> None:
    inbound = sandbox.control.inject_inbound(sender="ann@example.com", subject="Q", markdown="?")
    set_mode(sandbox, "read_only")
    answer = sender.post(f"{sandbox.mb}/send", json=send_body())
    assert answer.status_code == 403
    assert "read_only" in answer.json()["error"]
    reply = sender.post(f"{sandbox.mb}/reply/{inbound['id']}", json={"markdown": "ok"})
    assert reply.status_code == 403


def test_gated_all_holds_inbound_mail_too(
    sandbox: Sandbox, sender: httpx.Client, overseer: httpx.Client
) -> None:
    set_mode(sandbox, "gated_all")
    inbound = sandbox.control.inject_inbound(sender="ann@example.com", subject="Q", markdown="?")
    assert inbound["status"] == "pending_inbound_approval"
    sent = sender.post(f"{sandbox.mb}/send", json=send_body()).json()
    sandbox.advance(1)
    pending = overseer.get("/v1/oversight/pending").json()["emails"]
    assert [(p["id"], p["direction"]) for p in pending] == [
        (inbound["id"], "inbound"),
        (sent["id"], "outbound"),
    ]
    decide = {"email_id": inbound["id"], "action": "approve"}
    assert overseer.post("/v1/oversight/decide", json=decide).json()["status"] == "approved"
    assert status_of(sandbox, inbound["id"]) == "unread"
    events = [e.event for e in sandbox.sink.events_for(inbound["id"])]
    assert events == ["oversight.pending", "oversight.approved", "message.received"]


def test_mode_changes_downgrade_freely_and_upgrade_only_with_a_code(sandbox: Sandbox) -> None:
    admin = sandbox.client("admin")
    answer = admin.patch(f"{sandbox.mb}/configure", json={"oversight_mode": "autonomous"})
    assert answer.status_code == 403
    assert "request-upgrade" in answer.json()["error"]
    requested = admin.post(f"{sandbox.mb}/request-upgrade", json={"target_mode": "autonomous"})
    assert requested.json()["status"] == "upgrade_requested"
    wrong = admin.post(f"{sandbox.mb}/upgrade", json={"code": "AAA-AAA"})
    assert wrong.status_code == 403
    code = sandbox.client().get("/sandbox/upgrade-codes").json()["codes"][0]
    assert (code["target_mode"], code["mailbox_id"]) == ("autonomous", sandbox.seed.mailbox_id)
    upgraded = admin.post(f"{sandbox.mb}/upgrade", json={"code": code["id"]})
    assert upgraded.json() == {"status": "upgraded", "oversight_mode": "autonomous"}
    assert admin.post(f"{sandbox.mb}/upgrade", json={"code": code["id"]}).status_code == 404
    down = admin.patch(sandbox.mb, json={"oversight_mode": "gated_all"})
    assert down.json()["oversight_mode"] == "gated_all"


def test_upgrade_requests_are_rate_limited(sandbox: Sandbox, sender: httpx.Client) -> None:
    for _ in range(3):
        ok = sender.post(f"{sandbox.mb}/request-upgrade", json={"target_mode": "monitored"})
        assert ok.status_code == 200
    limited = sender.post(f"{sandbox.mb}/request-upgrade", json={"target_mode": "monitored"})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    sandbox.advance(3601)
    again = sender.post(f"{sandbox.mb}/request-upgrade", json={"target_mode": "monitored"})
    assert again.status_code == 200
    same = sender.post(f"{sandbox.mb}/request-upgrade", json={"target_mode": "gated_send"})
    assert same.status_code == 400


def test_cancel_is_harmless_twice(sandbox: Sandbox, sender: httpx.Client) -> None:
    sent = sender.post(f"{sandbox.mb}/send", json=send_body()).json()
    sandbox.advance(1)
    url = f"{sandbox.mb}/emails/{sent['id']}/cancel"
    assert sender.post(url).json() == {"id": sent["id"], "status": "cancelled"}
    assert sender.post(url).json() == {"id": sent["id"], "status": "cancelled"}
    overseer = sandbox.client("oversight")
    decide = {"email_id": sent["id"], "action": "approve"}
    assert overseer.post("/v1/oversight/decide", json=decide).status_code == 409


def test_an_idempotent_repeat_answers_already_sent_with_the_same_id(
    sandbox: Sandbox, sender: httpx.Client, reader: httpx.Client
) -> None:
    body = send_body(idempotency_key="call_1")
    first = sender.post(f"{sandbox.mb}/send", json=body)
    assert first.status_code == 202
    repeat = sender.post(f"{sandbox.mb}/send", json=body)
    assert repeat.status_code == 200
    assert repeat.json() == {"id": first.json()["id"], "status": "already_sent", "idempotent": True}
    assert len(reader.get(f"{sandbox.mb}/emails").json()["emails"]) == 1
    sandbox.advance(86_400)
    assert sender.post(f"{sandbox.mb}/send", json=body).status_code == 202


def test_a_repeated_reply_is_409_within_60_seconds(sandbox: Sandbox, sender: httpx.Client) -> None:
    inbound = sandbox.control.inject_inbound(sender="ann@example.com", subject="Q", markdown="?")
    url = f"{sandbox.mb}/reply/{inbound['id']}"
    first = sender.post(url, json={"markdown": "Yes."})
    assert first.status_code == 202
    duplicate = sender.post(url, json={"markdown": "Yes."})
    assert duplicate.status_code == 409
    assert "Duplicate reply" in duplicate.json()["error"]
    assert sender.post(url, json={"markdown": "Yes!"}).status_code == 202
    keyed = sender.post(url, json={"markdown": "Sure.", "idempotency_key": "k"})
    again = sender.post(url, json={"markdown": "Sure.", "idempotency_key": "k"})
    assert again.json()["id"] == keyed.json()["id"]
    sandbox.advance(61)
    assert sender.post(url, json={"markdown": "Yes."}).status_code == 202


def test_schedule_first_send_waits_for_its_time(
    sandbox: Sandbox, sender: httpx.Client, overseer: httpx.Client
) -> None:
    body = send_body(send_at="2027-01-15T09:00:00Z", gate_timing="schedule_first")
    sent = sender.post(f"{sandbox.mb}/send", json=body).json()
    url = f"{sandbox.mb}/emails/{sent['id']}/schedule"
    assert sender.patch(url, json={"subject": "Early"}).status_code == 409  # still scanning
    sandbox.advance(1)
    assert status_of(sandbox, sent["id"]) == "scheduled"
    edited = sender.patch(url, json={"subject": "Later", "send_at": "2027-01-15T10:00:00Z"})
    assert edited.status_code == 200
    assert (edited.json()["subject"], edited.json()["send_at"]) == (
        "Later",
        "2027-01-15T10:00:00.000Z",
    )
    sandbox.advance(3600)  # 09:00: the old time passes, nothing happens
    assert status_of(sandbox, sent["id"]) == "scheduled"
    sandbox.advance(3600)
    assert [p["id"] for p in overseer.get("/v1/oversight/pending").json()["emails"]] == [sent["id"]]
    assert sender.patch(url, json={"subject": "x"}).status_code == 409


def test_gate_first_send_is_approved_then_delivered_on_time(
    sandbox: Sandbox, sender: httpx.Client, overseer: httpx.Client
) -> None:
    body = send_body(send_at="2027-01-15T09:00:00Z")
    sent = sender.post(f"{sandbox.mb}/send", json=body).json()
    sandbox.advance(1)
    decide = {"email_id": sent["id"], "action": "approve"}
    assert overseer.post("/v1/oversight/decide", json=decide).json()["status"] == "approved"
    assert status_of(sandbox, sent["id"]) == "scheduled"
    url = f"{sandbox.mb}/emails/{sent['id']}/schedule"
    assert sender.patch(url, json={"subject": "x"}).status_code == 409
    assert sender.post(f"{sandbox.mb}/emails/{sent['id']}/cancel").status_code == 409
    sandbox.advance(3600)
    email = sandbox.control.email(sent["id"])
    assert email is not None
    assert (email["status"], email["delivered_at"]) == ("read", "2027-01-15T09:00:00.000Z")


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        pytest.param({"send_at": "2027-01-15T09:00:00+00:00"}, 400, id="send_at-no-Z"),
        pytest.param({"send_at": "2020-01-01T00:00:00Z"}, 400, id="send_at-past"),
        pytest.param({"to": []}, 400, id="no-recipient"),
        pytest.param({"to": ["not-an-address"]}, 400, id="bad-address"),
        pytest.param({"to": [f"u{i}@example.com" for i in range(51)]}, 400, id="51-to"),
        pytest.param({"subject": "x" * 999}, 400, id="long-subject"),
        pytest.param({"markdown": "x" * (256 * 1024 + 1)}, 413, id="huge-body"),
        pytest.param({"gate_timing": "whenever"}, 400, id="bad-gate-timing"),
        pytest.param({"attachments": [{"name": "a", "content_base64": "!!"}]}, 400, id="bad-b64"),
    ],
)
def test_send_validation(
    sandbox: Sandbox, sender: httpx.Client, overrides: dict[str, object], status: int
) -> None:
    answer = sender.post(f"{sandbox.mb}/send", json=send_body(**overrides))
    assert answer.status_code == status
    assert set(answer.json()) == {"error"}


def test_a_suppressed_recipient_is_refused_until_removed(
    sandbox: Sandbox, sender: httpx.Client, admin: httpx.Client
) -> None:
    sandbox.client().post("/sandbox/suppress", json={"address": "Bob@Example.com"})
    refused = sender.post(f"{sandbox.mb}/send", json=send_body())
    assert refused.status_code == 422
    assert "bob@example.com" in refused.json()["error"]
    listed = sandbox.client("read").get("/v1/suppression").json()["suppressions"]
    assert [(s["email_address"], s["reason"]) for s in listed] == [("bob@example.com", "bounce")]
    removed = admin.delete("/v1/suppression/bob@example.com")
    assert removed.status_code == 200
    assert admin.delete("/v1/suppression/bob@example.com").status_code == 404
    assert sender.post(f"{sandbox.mb}/send", json=send_body()).status_code == 202


def test_the_monthly_quota_answers_429(start_sandbox: Start) -> None:
    sandbox = start_sandbox(MultiMailSandboxSettings(monthly_email_quota=1, settle_interval=None))
    sender = sandbox.client("send")
    assert sender.post(f"{sandbox.mb}/send", json=send_body()).status_code == 202
    over = sender.post(f"{sandbox.mb}/send", json=send_body())
    assert over.status_code == 429
    assert "quota" in over.json()["error"]
    assert over.headers["Retry-After"] == "3600"


def test_bodies_must_be_json_objects(sandbox: Sandbox, sender: httpx.Client) -> None:
    broken = sender.post(f"{sandbox.mb}/send", content=b"{nope")
    assert broken.json() == {"error": "Invalid JSON body"}
    listed = sender.post(f"{sandbox.mb}/send", json=[1])
    assert listed.json() == {"error": "The request body must be a JSON object"}


def test_schedule_edits_recipients_and_body_and_respects_the_mailbox(
    sandbox: Sandbox, sender: httpx.Client, admin: httpx.Client
) -> None:
    sent = sender.post(
        f"{sandbox.mb}/send",
        json=send_body(send_at="2027-01-15T09:00:00Z", gate_timing="schedule_first"),
    ).json()
    sandbox.advance(1)
    url = f"{sandbox.mb}/emails/{sent['id']}/schedule"
    assert sender.patch(url, json={}).status_code == 400
    edited = sender.patch(
        url, json={"to": ["c@example.com"], "cc": ["d@example.com"], "markdown": "New"}
    ).json()
    assert (edited["to"], edited["cc"], edited["markdown"]) == (
        ["c@example.com"],
        ["d@example.com"],
        "New",
    )
    assert sender.patch(url, json={"send_at": "tomorrow"}).status_code == 400
    admin.patch(f"{sandbox.mb}/configure", json={"scheduling_enabled": False})
    refused = sender.post(f"{sandbox.mb}/send", json=send_body(send_at="2027-01-16T09:00:00Z"))
    assert refused.json() == {"error": "Scheduling is disabled for this mailbox"}
