"""Mailboxes, the account, contacts, usage, API keys, the audit log and confirmation."""

from __future__ import annotations

import httpx
import pytest

from mm_assistants.sandbox.multimail_api import APPROVAL_FLOWS, MultiMailSandboxSettings
from tests.sandbox.multimail_api.conftest import Sandbox, Start, send_body


def test_creating_a_mailbox_needs_the_operators_code(sandbox: Sandbox, admin: httpx.Client) -> None:
    first = admin.post("/v1/mailboxes", json={"address_local": "Support", "display_name": "S"})
    assert first.status_code == 202
    assert "approval code" in first.json()["message"]
    codes = sandbox.client().get("/sandbox/approval-codes").json()["codes"]
    assert [(c["purpose"], c["address_local"]) for c in codes] == [("create_mailbox", "support")]
    wrong = admin.post("/v1/mailboxes", json={"address_local": "support", "approval_code": "X"})
    assert wrong.status_code == 403
    made = admin.post(
        "/v1/mailboxes", json={"address_local": "support", "approval_code": codes[0]["id"]}
    )
    assert made.status_code == 201
    assert made.json()["address"] == "support@sandbox.multimail.dev"
    boxes = admin.get("/v1/mailboxes").json()["mailboxes"]
    assert [b["oversight_mode"] for b in boxes] == ["gated_send", "gated_send"]
    taken = admin.post("/v1/mailboxes", json={"address_local": "support"})
    assert taken.status_code == 409


@pytest.mark.parametrize(
    "local", [pytest.param("", id="empty"), pytest.param("a@b.com", id="domain"), "bad name"]
)
def test_bad_mailbox_addresses_are_400(admin: httpx.Client, local: str) -> None:
    assert admin.post("/v1/mailboxes", json={"address_local": local}).status_code == 400


def test_mailbox_settings_apply_to_sends(sandbox: Sandbox, admin: httpx.Client) -> None:
    changes = {
        "display_name": "Agent Smith",
        "auto_bcc": "audit@example.com",
        "signature_block": "-- Agent",
        "default_gate_timing": "schedule_first",
        "forward_inbound": True,
    }
    assert admin.patch(f"{sandbox.mb}/configure", json=changes).json()["status"] == "updated"
    box = admin.get("/v1/mailboxes").json()["mailboxes"][0]
    assert (box["display_name"], box["forward_inbound"]) == ("Agent Smith", 1)
    sent = sandbox.client("send").post(f"{sandbox.mb}/send", json=send_body()).json()
    email = sandbox.control.email(sent["id"])
    assert email is not None
    assert email["bcc"] == ["audit@example.com"]
    assert email["markdown"] == "Hi Bob\n\n-- Agent"
    for bad in ({"auto_cc": "nope"}, {"signature_block": "x" * 201}, {"oversight_mode": "x"}):
        assert admin.patch(sandbox.mb, json=bad).status_code == 400


def test_a_deleted_mailbox_is_gone(sandbox: Sandbox, admin: httpx.Client) -> None:
    assert admin.delete(sandbox.mb).json() == {"status": "deleted"}
    assert admin.get(f"{sandbox.mb}/emails").status_code == 404
    assert admin.get("/v1/mailboxes").json() == {"mailboxes": []}


def test_account_read_update_and_delete(sandbox: Sandbox, admin: httpx.Client) -> None:
    sandbox.client("send").post(f"{sandbox.mb}/send", json=send_body())
    account = sandbox.client("read").get("/v1/account").json()
    assert (account["plan"], account["emails_sent_this_month"]) == ("pro", 1)
    assert account["sending_disabled"] is False
    update = {"name": "Acme", "oversight_email": "boss@acme.example"}
    assert admin.patch("/v1/account", json=update).json() == {"status": "updated"}
    assert admin.get("/v1/account").json()["name"] == "Acme"
    assert admin.patch("/v1/account", json={"oversight_email": "x"}).status_code == 400
    assert admin.patch("/v1/account", json={}).status_code == 400
    assert admin.delete("/v1/account").json() == {"status": "deleted"}
    assert admin.get("/v1/account").status_code == 401
    other = sandbox.client(sandbox.seed.second_tenant_key)
    assert other.get("/v1/account").status_code == 200


def test_contacts_add_search_delete(sandbox: Sandbox, sender: httpx.Client) -> None:
    made = sender.post(
        "/v1/contacts", json={"name": "Ann Lee", "email": "Ann@Example.com", "tags": ["vip"]}
    )
    assert made.status_code == 201
    contact = made.json()
    assert (contact["email"], contact["tags"]) == ("ann@example.com", ["vip"])
    reader = sandbox.client("read")
    assert reader.get("/v1/contacts", params={"q": "lee"}).json()["contacts"] == [contact]
    assert reader.get("/v1/contacts", params={"query": "zed"}).json() == {"contacts": []}
    assert sender.post("/v1/contacts", json={"name": "x"}).status_code == 400
    assert sender.delete(f"/v1/contacts/{contact['id']}").json() == {"deleted": True}
    assert sender.delete(f"/v1/contacts/{contact['id']}").status_code == 404


def test_usage_counts_sends_receipts_calls_and_decisions(sandbox: Sandbox) -> None:
    sender, overseer = sandbox.client("send"), sandbox.client("oversight")
    sent = sender.post(f"{sandbox.mb}/send", json=send_body()).json()
    sandbox.control.inject_inbound(sender="ann@example.com", subject="Q", markdown="?")
    sandbox.advance(1)
    overseer.post("/v1/oversight/decide", json={"email_id": sent["id"], "action": "approve"})
    usage = sandbox.client("read").get("/v1/usage").json()
    assert (usage["emails_sent"], usage["emails_received"], usage["oversight_actions"]) == (1, 1, 1)
    assert usage["api_calls"] == 3
    daily = sandbox.client("read").get("/v1/usage", params={"period": "daily"}).json()
    assert daily["breakdown"] == "daily"
    assert {(d["event_type"], d["count"]) for d in daily["data"]} >= {("emails_sent", 1)}
    assert sandbox.client("read").get("/v1/usage", params={"period": "x"}).status_code == 400


def test_api_keys_create_list_revoke(sandbox: Sandbox, admin: httpx.Client) -> None:
    both = admin.post("/v1/api-keys", json={"name": "x", "scopes": ["send", "oversight"]})
    assert both.status_code == 400
    assert "both 'send' and 'oversight'" in both.json()["error"]
    assert admin.post("/v1/api-keys", json={"name": "x", "scopes": ["root"]}).status_code == 400
    # MultiMail's flow: a 202 mails the operator a code, the call with it creates
    made = sandbox.approved(admin, "/v1/api-keys", {"name": "bot", "scopes": ["read"]})
    assert made.status_code == 201
    key = made.json()
    assert key["api_key"].startswith("mm_test_")
    assert key["prefix"] == key["api_key"][:12]
    listed = admin.get("/v1/api-keys").json()["api_keys"]
    assert key["api_key"] not in repr(listed)
    assert sandbox.client(key["api_key"]).get("/v1/mailboxes").status_code == 200
    assert admin.delete(f"/v1/api-keys/{key['id']}").json() == {"status": "revoked"}
    assert admin.delete(f"/v1/api-keys/{key['id']}").json() == {"status": "revoked"}
    assert sandbox.client(key["api_key"]).get("/v1/mailboxes").status_code == 401
    assert admin.delete("/v1/api-keys/key_nope").status_code == 404


def test_key_flows_can_require_approval_codes(start_sandbox: Start) -> None:
    settings = MultiMailSandboxSettings(require_approval=APPROVAL_FLOWS, settle_interval=None)
    sandbox = start_sandbox(settings)
    admin = sandbox.client("admin")
    body = {"name": "bot", "scopes": ["read"]}
    assert admin.post("/v1/api-keys", json=body).status_code == 202
    code = sandbox.control.codes("create_api_key")[0]["id"]
    key = admin.post("/v1/api-keys", json={**body, "approval_code": code}).json()
    assert admin.delete(f"/v1/api-keys/{key['id']}").status_code == 202
    code = sandbox.control.codes("revoke_api_key")[0]["id"]
    revoke = admin.request("DELETE", f"/v1/api-keys/{key['id']}", json={"approval_code": code})
    assert revoke.json() == {"status": "revoked"}


def test_the_audit_log_names_key_ids_never_keys(sandbox: Sandbox, admin: httpx.Client) -> None:
    sent = sandbox.client("send").post(f"{sandbox.mb}/send", json=send_body()).json()
    sandbox.client("send").post(f"{sandbox.mb}/emails/{sent['id']}/cancel")
    admin.patch("/v1/account", json={"name": "Acme"})
    entries = admin.get("/v1/audit-log").json()["entries"]
    assert [e["action"] for e in entries] == ["account.updated", "email.cancelled", "email.sent"]
    assert entries[2]["resource_id"] == sent["id"]
    assert all(e["actor_key_id"].startswith("key_") for e in entries)
    assert not any(raw in repr(entries) for raw in sandbox.seed.keys.values())
    first = admin.get("/v1/audit-log", params={"limit": 2}).json()
    rest = admin.get("/v1/audit-log", params={"cursor": first["cursor"]}).json()
    assert [e["id"] for e in first["entries"] + rest["entries"]] == [e["id"] for e in entries]
    assert rest["cursor"] is None


def test_signup_confirmation(sandbox: Sandbox) -> None:
    anonymous = sandbox.client()
    signup = anonymous.post(
        "/sandbox/signup", json={"name": "New Co", "oversight_email": "op@new.example"}
    ).json()
    resent = anonymous.post("/v1/account/resend-confirmation", json={"email": "op@new.example"})
    assert resent.json()["status"] == "confirmation_resent"
    assert anonymous.post("/v1/confirm", json={"code": "NOP-NOP"}).status_code == 400
    confirmed = anonymous.post("/v1/confirm", json={"code": signup["code"]}).json()
    assert confirmed["status"] == "confirmed"
    assert confirmed["mailbox_address"] == "agent@new-co.multimail.dev"
    new = sandbox.client(confirmed["api_key"])
    assert new.get(f"/v1/mailboxes/{confirmed['mailbox_id']}/emails").status_code == 200
    already = new.post("/v1/account/resend-confirmation")
    assert already.json() == {"error": "Account already confirmed"}
