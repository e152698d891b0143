"""Every tool of MultiMail's own MCP server, called against the sandbox and judged.

One step per tool name (`STEPS`): it calls the tool through the running server with
plausible arguments (and, where the tool needs it, the flow around it: the operator's
approval code read from the sandbox, a held send approved through the control API) and
checks the effect a user would look for, not merely that no error came back. A step that
needs another tool's call first makes that call itself, so each verdict is about its own tool.
Steps run in `STEPS` order; the destructive ones (``delete_account``) come last.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.mcp_stdio import McpServer

ATTACHMENT = b"quarterly numbers: 42\n"
CUSTOMER = "ana@customer.example"


class StepFailed(AssertionError):
    """A tool's result did not show the expected effect (the reason is the message)."""


def expect(condition: object, reason: str) -> None:
    """Fail the running step with ``reason`` unless ``condition`` holds."""
    if not condition:
        raise StepFailed(reason)


@dataclass
class World:
    """What the steps share: the server, the sandbox's control handle, ids made on the way."""

    mcp: McpServer
    control: Any  # mm_assistants.sandbox MultiMailControl (typed loosely: sandbox is optional)
    mailbox_id: str
    listed: list[str] = field(default_factory=list)
    inbound: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    def call(self, tool: str, arguments: Mapping[str, Any], timeout: float | None = None) -> Any:
        """Call ``tool``; its text parsed as JSON where it is JSON. An MCP error fails."""
        result = self.mcp.call_tool(tool, arguments, timeout=timeout)
        texts = [part.get("text", "") for part in result.get("content", [])]
        expect(not result.get("isError"), f"isError: {' '.join(texts)[:300]}")
        expect(texts, "no content")
        self.text = "\n".join(texts)
        # The answer is the last JSON part: a first-run nudge (send_email's setup_required)
        # may come before it, read_email's framed body after it.
        for text in reversed(texts):
            try:
                return json.loads(text)
            except ValueError:
                continue
        return self.text

    def code(self, purpose: str) -> str:
        """The newest operator code of ``purpose``, as the operator's mail shows it."""
        code: str = self.control.approval_code(purpose)
        return code


def solve(challenge: Mapping[str, Any]) -> int:
    """The ALTCHA number: N with sha256(salt + N) == challenge (as MultiMail's client says)."""
    for number in range(int(challenge["maxnumber"]) + 1):
        digest = hashlib.sha256(f"{challenge['salt']}{number}".encode()).hexdigest()
        if digest == challenge["challenge"]:
            return number
    raise StepFailed("no number solves the challenge")


def _emails(data: Any) -> list[dict[str, Any]]:
    expect(isinstance(data, dict) and isinstance(data.get("emails"), list), f"no emails: {data}")
    emails: list[dict[str, Any]] = data["emails"]
    return emails


def _send(w: World, subject: str, **extra: Any) -> dict[str, Any]:
    body = {"to": ["bob@example.com"], "subject": subject, "markdown": "Numbers attached."}
    sent = w.call("send_email", {**body, **extra})
    expect(isinstance(sent, dict) and sent.get("id"), f"no id in {sent}")
    result: dict[str, Any] = sent
    return result


def _held(w: World, email_id: str) -> None:
    w.control.settle()
    expect(
        any(item.get("id") == email_id for item in w.control.pending()),
        f"{email_id} is not held for approval",
    )


# -- account setup (keyless calls) ------------------------------------------------------------


def request_challenge(w: World) -> None:
    data = w.call("request_challenge", {})
    for name in ("algorithm", "challenge", "maxnumber", "salt", "signature"):
        expect(name in data, f"challenge without {name}: {data}")
    w.notes["challenge"] = data


def _signed_up(w: World) -> None:
    """An unconfirmed account: through create_account where the server has it, else (0.5.3
    has no signup tools) through the sandbox, as a browser signup would leave it."""
    if w.notes.get("signed_up"):
        return
    if "create_account" in w.listed:
        create_account(w)
    else:
        w.control.signup("Conformance Co", "ops@conformance.example")
        w.notes["signed_up"] = True


def create_account(w: World) -> None:
    challenge = w.notes.get("challenge") or w.call("request_challenge", {})
    number = solve(challenge)
    pow_solution = {k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")}
    data = w.call(
        "create_account",
        {
            "operator_name": "Conformance Co",
            "oversight_email": "ops@conformance.example",
            "accepted_tos": True,
            "accepted_operator_agreement": True,
            "accepted_anti_spam_policy": True,
            "pow_solution": {**pow_solution, "number": number},
        },
    )
    expect(isinstance(data, dict), f"not an account: {data}")
    w.notes["signed_up"] = True


def resend_confirmation(w: World) -> None:
    if "create_account" not in w.listed:
        # 0.5.3 sends it with the server's own key, whose account is confirmed: MultiMail
        # documents it for unconfirmed accounts only, so the refusal is the right answer.
        result = w.mcp.call_tool("resend_confirmation", {})
        text = json.dumps(result.get("content"))
        expect(result.get("isError") and "confirmed" in text, f"not refused: {text[:200]}")
        return
    _signed_up(w)
    before = len(w.control.codes("confirm_account"))
    w.call("resend_confirmation", {"oversight_email": "ops@conformance.example"})
    expect(len(w.control.codes("confirm_account")) >= max(before, 1), "no confirmation code open")


def activate_account(w: World) -> None:
    _signed_up(w)
    text = w.call("activate_account", {"code": w.code("confirm_account")})
    expect("API Key:" in str(text) or "api_key" in str(text), f"no key in {str(text)[:200]}")


# -- mail ----------------------------------------------------------------------------------


def list_mailboxes(w: World) -> None:
    data = w.call("list_mailboxes", {})
    ids = [box.get("id") for box in data.get("mailboxes", [])]
    expect(w.mailbox_id in ids, f"{w.mailbox_id} not in {ids}")


def check_inbox(w: World) -> None:
    ids = [e.get("id") for e in _emails(w.call("check_inbox", {"direction": "inbound"}))]
    expect(w.inbound["id"] in ids, f"injected email missing from {ids}")
    # MultiMail's client documents `sender` as a partial match.
    partial = _emails(w.call("check_inbox", {"sender": "customer.example"}))
    expect([e.get("id") for e in partial] == [w.inbound["id"]], "sender partial match failed")


def read_email(w: World) -> None:
    data = w.call("read_email", {"email_id": w.inbound["id"]})
    expect(data.get("subject") == "Can we meet?", f"subject not shown: {str(data)[:200]}")
    expect("Thursday at 3?" in w.text, "body not shown")


def download_attachment(w: World) -> None:
    data = w.call("download_attachment", {"email_id": w.inbound["id"], "filename": "q.txt"})
    expect(isinstance(data, dict), f"not JSON: {data}")
    content = data.get("content_base64")
    expect(content is not None, f"no content_base64 (and no url followed): {data}")
    expect(base64.b64decode(content) == ATTACHMENT, "attachment bytes differ")


def get_thread(w: World) -> None:
    data = w.call("get_thread", {"thread_id": w.inbound["thread_id"]})
    expect(w.inbound["id"] in json.dumps(data), f"thread lacks the email: {str(data)[:200]}")


def reply_email(w: World) -> None:
    data = w.call("reply_email", {"email_id": w.inbound["id"], "markdown": "Thursday works."})
    expect(data.get("id"), f"no id: {data}")
    _held(w, data["id"])


def send_email(w: World) -> None:
    sent = _send(w, "Conformance send")
    _held(w, sent["id"])
    w.control.decide(sent["id"], "approve")
    # MultiMail's status enum has no "sent": a delivered email is "read" with delivered_at.
    email = w.control.email(sent["id"])
    expect(email.get("delivered_at"), f"not delivered after approval: {email['status']}")
    left = [entry for entry in w.control.sent() if "Conformance send" in json.dumps(entry)]
    expect(left, "approved, but nothing left the sandbox")
    shown = w.call("read_email", {"email_id": sent["id"]})
    expect(shown.get("subject") == "Conformance send", f"read back: {str(shown)[:200]}")


def list_pending(w: World) -> None:
    sent = _send(w, "Held for list_pending")
    w.control.settle()
    data = w.call("list_pending", {})
    expect(sent["id"] in json.dumps(data), f"held send not listed: {str(data)[:200]}")
    w.notes["held"] = sent["id"]


def decide_email(w: World) -> None:
    held = _send(w, "Held for decide_email")["id"]
    _held(w, held)
    w.call("decide_email", {"email_id": held, "action": "reject", "reason": "test"})
    expect(w.control.email(held)["status"] == "rejected", "not rejected")


def cancel_message(w: World) -> None:
    held = _send(w, "Held for cancel")["id"]
    _held(w, held)
    w.call("cancel_message", {"email_id": held})
    expect(w.control.email(held)["status"] == "cancelled", "not cancelled")


def schedule_email(w: World) -> None:
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86_400))
    body = {"to": ["bob@example.com"], "subject": "Later", "markdown": "Tomorrow.", "send_at": at}
    data = w.call("schedule_email", {**body, "gate_timing": "schedule_first"})
    expect(data.get("id"), f"no id: {data}")
    w.notes["scheduled"] = data["id"]


def edit_scheduled_email(w: World) -> None:
    if "scheduled" not in w.notes:
        schedule_email(w)
    email_id = w.notes["scheduled"]
    w.call("edit_scheduled_email", {"email_id": email_id, "subject": "Later, edited"})
    expect(w.control.email(email_id)["subject"] == "Later, edited", "subject unchanged")


def wait_for_email(w: World) -> None:
    # Delivered a second after the call starts: after its baseline, before its deadline.
    def deliver() -> None:
        time.sleep(1.0)
        w.control.inject_inbound(sender="late@customer.example", subject="Late", markdown="Hi")

    threading.Thread(target=deliver, daemon=True).start()
    arguments = {"timeout_seconds": 10, "filter": {"sender": "late@customer"}}
    data = w.call("wait_for_email", arguments, timeout=20)
    expect(data.get("found") is True, f"not found: {data}")


def tag_email(w: World) -> None:
    email_id = w.inbound["id"]
    w.call("tag_email", {"email_id": email_id, "action": "set", "tags": {"stage": "lead"}})
    got = w.call("tag_email", {"email_id": email_id, "action": "get"})
    expect("lead" in json.dumps(got), f"tag not set: {got}")
    w.call("tag_email", {"email_id": email_id, "action": "delete", "key": "stage"})
    got = w.call("tag_email", {"email_id": email_id, "action": "get"})
    expect("lead" not in json.dumps(got), f"tag not deleted: {got}")


def report_spam(w: World) -> None:
    w.call("report_spam", {"email_id": w.inbound["id"]})
    listed = w.call("list_spam", {})
    expect(w.inbound["id"] in json.dumps(listed), "reported email not in list_spam")


def list_spam(w: World) -> None:
    spam = w.control.inject_inbound(
        sender="x@spam.example", subject="Win", markdown="!!", spam_verdict="flagged"
    )
    expect(spam["id"] in json.dumps(w.call("list_spam", {"limit": 10})), "spam not listed")
    w.notes["spam"] = spam["id"]


def not_spam(w: World) -> None:
    if "spam" not in w.notes:
        list_spam(w)
    w.call("not_spam", {"email_id": w.notes["spam"]})
    expect(w.notes["spam"] not in json.dumps(w.call("list_spam", {})), "still listed as spam")
