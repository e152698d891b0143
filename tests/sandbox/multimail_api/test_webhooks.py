"""Webhook subscriptions, the events the sink receives, and the delivery history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sandbox.multimail_api.conftest import Sandbox, Start, send_body


def subscribe(sandbox: Sandbox, admin: httpx.Client, **body: Any) -> dict[str, Any]:
    # MultiMail's flow: a 202 mails the operator a code, the call with it creates
    answer = sandbox.approved(admin, "/v1/webhooks", {"url": "https://hooks.example/mm", **body})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def test_create_list_get_delete(sandbox: Sandbox, admin: httpx.Client) -> None:
    sub = subscribe(sandbox, admin, events=["oversight.pending", "oversight.approved"])
    assert sub["signing_secret"].startswith("whsec_")
    assert sub["mailbox_id"] is None
    listed = admin.get("/v1/webhooks").json()["subscriptions"]
    assert [s["id"] for s in listed] == [sub["id"]]
    assert "signing_secret" not in listed[0]
    assert admin.get(f"/v1/webhooks/{sub['id']}").json()["signing_secret"] == sub["signing_secret"]
    assert admin.delete(f"/v1/webhooks/{sub['id']}").json() == {"status": "deleted"}
    assert admin.get(f"/v1/webhooks/{sub['id']}").status_code == 404
    assert admin.delete(f"/v1/webhooks/{sub['id']}").status_code == 404
    entries = admin.get("/v1/audit-log").json()["entries"]
    assert sub["signing_secret"] not in repr(entries)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param({"url": "http://hooks.example/x"}, "https", id="plain-http"),
        pytest.param({"url": "ftp://hooks.example/x"}, "https", id="ftp"),
        pytest.param({"url": "hooks.example"}, "https", id="relative"),
        pytest.param({"events": []}, "events", id="no-events"),
        pytest.param({"events": ["message.opened"]}, "Unknown events", id="unknown-event"),
    ],
)
def test_invalid_subscriptions_are_400(
    admin: httpx.Client, body: dict[str, Any], fragment: str
) -> None:
    answer = admin.post(
        "/v1/webhooks", json={"url": "https://h.example", "events": ["message.sent"], **body}
    )
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "[::1]:9000"])
def test_plain_http_to_loopback_is_allowed(
    sandbox: Sandbox, admin: httpx.Client, host: str
) -> None:
    body = {"url": f"http://{host}/hook", "events": ["message.sent"]}
    assert sandbox.approved(admin, "/v1/webhooks", body).status_code == 201


def test_a_foreign_mailbox_filter_is_404(sandbox: Sandbox, admin: httpx.Client) -> None:
    body = {"url": "https://h.example", "events": ["message.sent"]}
    answer = admin.post("/v1/webhooks", json={**body, "mailbox_id": sandbox.seed.second_mailbox_id})
    assert answer.status_code == 404


def test_the_sink_gets_each_event_once_with_matching_subscriptions(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    everything = subscribe(
        sandbox, admin, events=["oversight.pending", "oversight.approved", "message.sent"]
    )
    pending_only = subscribe(
        sandbox, admin, events=["oversight.pending"], mailbox_id=sandbox.seed.mailbox_id
    )
    subscribe(sandbox, admin, events=["message.received"])
    sent = sandbox.client("send").post(f"{sandbox.mb}/send", json=send_body()).json()
    sandbox.advance(5)
    for _ in range(3):
        sandbox.control.settle()
        sandbox.client("read").get(f"{sandbox.mb}/emails")
    decide = {"email_id": sent["id"], "action": "approve", "reason": "fine"}
    sandbox.client("oversight").post("/v1/oversight/decide", json=decide)
    events = sandbox.sink.events_for(sent["id"])
    assert [e.event for e in events] == ["oversight.pending", "oversight.approved", "message.sent"]
    assert [s["id"] for s in events[0].subscriptions] == [everything["id"], pending_only["id"]]
    assert [s["id"] for s in events[1].subscriptions] == [everything["id"]]
    assert events[0].subscriptions[0]["signing_secret"] == everything["signing_secret"]
    data = events[1].data
    assert data["email_id"] == data["message_id"] == sent["id"]
    assert (data["mailbox_id"], data["thread_id"]) == (sandbox.seed.mailbox_id, sent["thread_id"])
    assert (data["from"], data["to"], data["subject"]) == (
        sandbox.seed.address,
        ["bob@example.com"],
        "Hello",
    )
    assert data["reason"] == "fine"
    assert data["decided_by"].startswith("key_")
    assert all(e.tenant_id == sandbox.seed.tenant_id for e in events)
    assert "whsec_" not in repr(events)


def test_inbound_mail_emits_message_received(sandbox: Sandbox) -> None:
    email = sandbox.control.inject_inbound(sender="ann@example.com", subject="Q", markdown="?")
    assert [e.event for e in sandbox.sink.events_for(email["id"])] == ["message.received"]


class HistorySink:
    """A sink that also keeps a delivery history, like the real outbox."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, int]] = []

    def emit(self, **kwargs: Any) -> None:
        pass

    def deliveries(self, tenant_id: str, *, status: str | None, limit: int) -> list[dict[str, Any]]:
        self.calls.append((tenant_id, status, limit))
        return [{"id": "dlv_1", "event_type": "oversight.pending", "status": "delivered"}]


def test_deliveries_come_from_the_sink_when_it_keeps_them(start_sandbox: Start) -> None:
    history = HistorySink()
    sandbox = start_sandbox(sink=history)
    admin = sandbox.client("admin")
    answer = admin.get("/v1/webhook-deliveries", params={"status": "delivered", "limit": 5})
    assert answer.json()["deliveries"][0]["id"] == "dlv_1"
    assert history.calls == [(sandbox.seed.tenant_id, "delivered", 5)]
    assert admin.get("/v1/webhook-deliveries", params={"status": "x"}).status_code == 400


def test_deliveries_are_empty_without_a_history(admin: httpx.Client) -> None:
    assert admin.get("/v1/webhook-deliveries").json() == {"deliveries": [], "cursor": None}


class BrokenSink:
    def emit(self, **kwargs: Any) -> None:
        raise RuntimeError("down")


def test_a_failing_sink_is_logged_not_fatal(
    start_sandbox: Start, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = start_sandbox(sink=BrokenSink())
    email = sandbox.control.inject_inbound(sender="ann@example.com", subject="Q", markdown="?")
    assert email["status"] == "unread"
    assert "the event sink failed on message.received" in caplog.text
