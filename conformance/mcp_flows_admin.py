"""The MCP server's mailbox, account, key, webhook, contact and billing tools, judged.

The other half of `conformance.mcp_flows` (mail and signup); the same step shape: call,
then check the effect, with the operator's approval codes read from the sandbox as the
operator would read them from their oversight email.
"""

from __future__ import annotations

import json
from typing import Any

from conformance.mcp_flows import World, expect

HOOK = {"url": "https://hooks.conformance.example/mm", "events": ["message.received"]}


def _approved(w: World, tool: str, purpose: str, arguments: dict[str, Any]) -> Any:
    """The operator-code flow: the first call mails a code, the second carries it."""
    first = w.call(tool, arguments)
    expect(
        "approval" in json.dumps(first).lower() or "code" in json.dumps(first).lower(),
        f"first {tool} call did not ask for the operator's code: {str(first)[:200]}",
    )
    return w.call(tool, {**arguments, "approval_code": w.code(purpose)})


def get_account(w: World) -> None:
    data = w.call("get_account", {})
    expect(isinstance(data, dict) and (data.get("id") or data.get("name")), f"no account: {data}")


def update_account(w: World) -> None:
    w.call("update_account", {"name": "Renamed Co"})
    expect("Renamed Co" in json.dumps(w.call("get_account", {})), "name unchanged")


def get_usage(w: World) -> None:
    data = w.call("get_usage", {"period": "summary"})
    expect(isinstance(data, dict) and data, f"no usage: {data}")


def get_audit_log(w: World) -> None:
    # By now the earlier steps changed the account (a renamed tenant at least): logged.
    data = w.call("get_audit_log", {"limit": 5})
    entries = data.get("entries") if isinstance(data, dict) else None
    expect(isinstance(entries, list) and entries, f"no entries: {str(data)[:200]}")


def create_mailbox(w: World) -> None:
    made = _approved(w, "create_mailbox", "create_mailbox", {"address_local_part": "sales"})
    expect(made.get("id"), f"no mailbox id: {made}")
    ids = [box.get("id") for box in w.call("list_mailboxes", {}).get("mailboxes", [])]
    expect(made["id"] in ids, "new mailbox not listed")
    w.notes["mailbox"] = made["id"]


def update_mailbox(w: World) -> None:
    w.call("update_mailbox", {"mailbox_id": w.mailbox_id, "display_name": "Front Desk"})
    listed = w.call("list_mailboxes", {})
    expect("Front Desk" in json.dumps(listed), "display_name unchanged")


def configure_mailbox(w: World) -> None:
    w.call("configure_mailbox", {"display_name": "Desk", "scheduling_enabled": True})
    expect("Desk" in json.dumps(w.call("list_mailboxes", {})), "display_name unchanged")


def request_upgrade(w: World) -> None:
    w.call("request_upgrade", {"target_mode": "monitored"})
    expect(w.control.codes("upgrade"), "no upgrade code mailed to the operator")


def apply_upgrade(w: World) -> None:
    if not w.control.codes("upgrade"):
        request_upgrade(w)
    w.call("apply_upgrade", {"code": w.code("upgrade")})
    boxes = w.call("list_mailboxes", {}).get("mailboxes", [])
    mode = next((b.get("oversight_mode") for b in boxes if b.get("id") == w.mailbox_id), None)
    expect(mode == "monitored", f"oversight_mode is {mode}")


def delete_mailbox(w: World) -> None:
    if "mailbox" not in w.notes:
        create_mailbox(w)
    w.call("delete_mailbox", {"mailbox_id": w.notes["mailbox"]})
    ids = [box.get("id") for box in w.call("list_mailboxes", {}).get("mailboxes", [])]
    expect(w.notes["mailbox"] not in ids, "deleted mailbox still listed")


def add_contact(w: World) -> None:
    made = w.call("add_contact", {"name": "Ana", "email": "ana@customer.example"})
    expect(made.get("id"), f"no contact id: {made}")
    w.notes["contact"] = made["id"]


def search_contacts(w: World) -> None:
    if "contact" not in w.notes:
        add_contact(w)
    expect(
        w.notes["contact"] in json.dumps(w.call("search_contacts", {"query": "Ana"})),
        "contact not found",
    )


def delete_contact(w: World) -> None:
    if "contact" not in w.notes:
        add_contact(w)
    w.call("delete_contact", {"contact_id": w.notes["contact"]})
    expect(w.notes["contact"] not in json.dumps(w.call("search_contacts", {})), "still listed")


def check_suppression(w: World) -> None:
    w.control.suppress("bounced@example.com")
    expect("bounced@example.com" in json.dumps(w.call("check_suppression", {})), "not listed")


def remove_suppression(w: World) -> None:
    w.control.suppress("gone@example.com")
    w.call("remove_suppression", {"email_address": "gone@example.com"})
    expect("gone@example.com" not in json.dumps(w.call("check_suppression", {})), "still listed")


def list_api_keys(w: World) -> None:
    data = w.call("list_api_keys", {})
    expect(isinstance(data, dict) and data.get("api_keys"), f"no keys: {data}")


def create_api_key(w: World) -> None:
    made = _approved(w, "create_api_key", "create_api_key", {"name": "ci", "scopes": ["read"]})
    expect(made.get("id") and str(made.get("api_key", "")).startswith("mm_"), f"no key: {made}")
    w.notes["key"] = made["id"]


def revoke_api_key(w: World) -> None:
    if "key" not in w.notes:
        create_api_key(w)
    w.call("revoke_api_key", {"key_id": w.notes["key"]})
    listed = w.call("list_api_keys", {}).get("api_keys", [])
    live = [k for k in listed if k.get("id") == w.notes["key"] and k.get("is_active")]
    expect(not live, "key still live")


def create_webhook(w: World) -> None:
    made = _approved(w, "create_webhook", "create_webhook", dict(HOOK))
    expect(made.get("id"), f"no webhook id: {made}")
    w.notes["webhook"] = made["id"]


def list_webhooks(w: World) -> None:
    if "webhook" not in w.notes:
        create_webhook(w)
    expect(w.notes["webhook"] in json.dumps(w.call("list_webhooks", {})), "webhook not listed")


def delete_webhook(w: World) -> None:
    if "webhook" not in w.notes:
        create_webhook(w)
    w.call("delete_webhook", {"webhook_id": w.notes["webhook"]})
    expect(w.notes["webhook"] not in json.dumps(w.call("list_webhooks", {})), "still listed")


def get_billing_portal(w: World) -> None:
    if "customer" not in w.notes:
        upgrade_plan(w)
    data = w.call("get_billing_portal", {"return_url": "https://conformance.example/back"})
    expect("http" in json.dumps(data), f"no portal url: {data}")


def upgrade_plan(w: World) -> None:
    data = w.call("upgrade_plan", {"plan": "builder", "interval": "monthly"})
    expect(data.get("checkout_url") and data.get("session_id"), f"no checkout: {data}")
    # The operator pays (what opening checkout_url does): a customer and a subscription.
    w.control.complete_checkout(data["session_id"])
    expect(w.control.billing()["plan"] == "builder", f"plan after checkout: {w.control.billing()}")
    w.notes["customer"] = True


def cancel_subscription(w: World) -> None:
    if "customer" not in w.notes:
        upgrade_plan(w)
    first = w.call("cancel_subscription", {})
    expect(first, "empty answer")
    codes = w.control.codes("cancel_subscription")
    if codes:  # the operator-code flow, where the sandbox asks for it
        w.call("cancel_subscription", {"approval_code": w.code("cancel_subscription")})


def delete_account(w: World) -> None:
    w.call("delete_account", {})
    gone = w.mcp.call_tool("get_account", {})
    expect(gone.get("isError"), "the account still answers after delete_account")
