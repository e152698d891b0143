"""The /sandbox controls, the Python control object, settings and restarts."""

from __future__ import annotations

import base64

import pytest

from mm_assistants.sandbox.multimail_api import MultiMailSandboxSettings, RecordingSink
from tests.sandbox.multimail_api.conftest import Sandbox, Start, send_body


def test_http_controls_inject_decide_and_move_the_clock(sandbox: Sandbox) -> None:
    control = sandbox.client()
    injected = control.post(
        "/sandbox/inbound",
        json={
            "sender": "ann@example.com",
            "subject": "Files",
            "markdown": "see",
            "attachments": [
                {
                    "name": "a.txt",
                    "content_base64": base64.b64encode(b"hi").decode(),
                    "content_type": "text/plain",
                }
            ],
            "spam_verdict": "flagged",
        },
    )
    assert injected.status_code == 201
    assert injected.json()["status"] == "spam_flagged"
    sent = sandbox.client("send").post(f"{sandbox.mb}/send", json=send_body()).json()
    before = control.get("/sandbox/clock").json()
    moved = control.post("/sandbox/clock", json={"advance": 30}).json()
    assert moved["offset"] == before["offset"] + 30
    decided = control.post("/sandbox/decide", json={"email_id": sent["id"], "action": "reject"})
    assert decided.json() == {"id": sent["id"], "status": "rejected"}
    again = control.post("/sandbox/decide", json={"email_id": sent["id"], "action": "reject"})
    assert again.status_code == 409
    assert control.post("/sandbox/clock", json={"offset": 0}).json()["offset"] == 0
    assert control.post("/sandbox/clock", json={"advance": "x"}).status_code == 400
    bad = control.post("/sandbox/inbound", json={"sender": "nobody", "subject": "", "markdown": ""})
    assert bad.status_code == 400


def test_the_operator_decision_names_the_oversight_email(sandbox: Sandbox) -> None:
    sent = sandbox.client("send").post(f"{sandbox.mb}/send", json=send_body()).json()
    sandbox.advance(1)
    assert sandbox.control.decide(sent["id"])["status"] == "approved_and_sent"
    email = sandbox.control.email(sent["id"])
    assert email is not None
    assert email["approved_by"] == "operator@example.com"
    with pytest.raises(ValueError, match="not pending"):
        sandbox.control.decide(sent["id"])
    with pytest.raises(ValueError, match="action"):
        sandbox.control.decide(sent["id"], action="maybe")
    with pytest.raises(ValueError, match="Mailbox not found"):
        sandbox.control.inject_inbound("mbx_nope", sender="a@b.example", subject="", markdown="")


def test_seed_codes_sent_and_counters_routes(sandbox: Sandbox) -> None:
    control = sandbox.client()
    seed = control.get("/sandbox/seed").json()
    assert seed == sandbox.seed.as_json()
    assert set(seed["keys"]) == {"read", "send", "oversight", "admin"}
    assert seed["address"] == "agent@sandbox.multimail.dev"
    sandbox.client("read").get(f"{sandbox.mb}/emails")
    sandbox.client("read").get(f"{sandbox.mb}/emails")
    counted = control.get("/sandbox/counters").json()
    assert counted == {"total": 2, "routes": {"GET /v1/mailboxes/{mailbox_id}/emails": 2}}
    assert control.delete("/sandbox/counters").json()["total"] == 2
    assert sandbox.control.counters() == {"total": 0, "routes": {}}
    assert control.get("/sandbox/codes").json() == {"codes": []}
    assert control.get("/sandbox/sent").json() == {"messages": []}
    assert control.post("/sandbox/suppress", json={"address": "nope"}).status_code == 400


def test_a_restart_finds_the_same_seed_and_emails(start_sandbox: Start) -> None:
    first = start_sandbox()
    sent = first.client("send").post(f"{first.mb}/send", json=send_body(idempotency_key="k"))
    first.control.close()
    second = start_sandbox(db_path=first.db_path, clock=first.clock)
    assert second.seed == first.seed
    assert dict(second.seed.keys) == dict(first.seed.keys)
    email = second.client("read").get(f"{second.mb}/emails/{sent.json()['id']}")
    assert email.status_code == 200
    repeat = second.client("send").post(f"{second.mb}/send", json=send_body(idempotency_key="k"))
    assert repeat.json()["id"] == sent.json()["id"]
    second.advance(1)
    second.control.settle()
    assert [e.event for e in second.sink.events] == ["oversight.pending"]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        pytest.param({"scan_delay": -1}, "scan_delay", id="scan_delay"),
        pytest.param({"idempotency_window": float("inf")}, "idempotency_window", id="window"),
        pytest.param({"monthly_email_quota": 0}, "monthly_email_quota", id="quota"),
        pytest.param({"require_approval": ("launch",)}, "require_approval", id="flows"),
        pytest.param({"settle_interval": 0}, "settle_interval", id="interval"),
        pytest.param({"reply_dedupe_window": True}, "reply_dedupe_window", id="bool"),
    ],
)
def test_settings_say_what_to_fix(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        MultiMailSandboxSettings(**changes)  # type: ignore[arg-type]


def test_the_recording_sink_keeps_secrets_out_of_its_repr() -> None:
    sink = RecordingSink()
    sink.emit(
        tenant_id="t",
        event="e",
        data={"email_id": "x"},
        subscriptions=[{"signing_secret": "whsec_1"}],
    )
    assert "whsec_1" not in repr(sink.events) + repr(sink)
    assert [e.event for e in sink.events_for("x")] == ["e"]
    sink.clear()
    assert sink.events == []
