"""Spam review: the tenant-wide spam list, report-spam and not-spam."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sandbox.multimail_api.conftest import Sandbox, send_body


def _inject(sandbox: Sandbox, verdict: str | None = None, **kw: Any) -> str:
    email = sandbox.control.inject_inbound(
        sender="spam@example.net",
        subject=kw.pop("subject", "Win"),
        markdown="x",
        spam_verdict=verdict,
        **kw,
    )
    email_id: str = email["id"]
    return email_id


def test_the_spam_list_spans_the_tenants_mailboxes(
    sandbox: Sandbox, reader: httpx.Client, admin: httpx.Client
) -> None:
    flagged = _inject(sandbox, "flagged")
    quarantined = _inject(sandbox, "quarantined")
    _inject(sandbox)  # clean mail is not in the spam list
    sandbox.control.inject_inbound(
        sandbox.seed.second_mailbox_id,
        sender="x@example.net",
        subject="other",
        markdown="x",
        spam_verdict="flagged",
    )
    listed = reader.get("/v1/emails").json()
    assert [(e["id"], e["status"]) for e in listed["emails"]] == [
        (quarantined, "spam_quarantined"),
        (flagged, "spam_flagged"),
    ]
    assert {e["mailbox_id"] for e in listed["emails"]} == {sandbox.seed.mailbox_id}
    only = reader.get("/v1/emails", params={"status": "spam_flagged"}).json()["emails"]
    assert [e["id"] for e in only] == [flagged]
    assert reader.get("/v1/emails", params={"status": "unread"}).status_code == 400
    assert reader.get("/v1/emails", params={"limit": 101}).status_code == 400


def test_the_spam_list_pages_with_its_cursor(sandbox: Sandbox, reader: httpx.Client) -> None:
    made = [_inject(sandbox, "flagged") for _ in range(5)]
    first = reader.get("/v1/emails", params={"limit": 2}).json()
    second = reader.get("/v1/emails", params={"limit": 2, "cursor": first["cursor"]}).json()
    third = reader.get("/v1/emails", params={"limit": 2, "cursor": second["cursor"]}).json()
    ids = [e["id"] for page in (first, second, third) for e in page["emails"]]
    assert ids == list(reversed(made))
    assert third["cursor"] is None


def test_report_spam_quarantines_out_of_the_inbox(
    sandbox: Sandbox, sender: httpx.Client, reader: httpx.Client
) -> None:
    email_id = _inject(sandbox)
    answer = sender.post(f"/v1/emails/{email_id}/report-spam")
    assert answer.json() == {
        "id": email_id,
        "status": "spam_quarantined",
        "mailbox_id": sandbox.seed.mailbox_id,
        "label": "spam",
    }
    inbox = reader.get(f"{sandbox.mb}/emails").json()["emails"]
    assert email_id not in [e["id"] for e in inbox]
    asked = reader.get(f"{sandbox.mb}/emails", params={"status": "spam_quarantined"}).json()
    assert [e["id"] for e in asked["emails"]] == [email_id]
    opened = reader.get(f"{sandbox.mb}/emails/{email_id}").json()
    assert opened["status"] == "spam_quarantined"  # still readable, not marked read
    assert [e["id"] for e in reader.get("/v1/emails").json()["emails"]] == [email_id]


def test_not_spam_restores_to_unread(
    sandbox: Sandbox, sender: httpx.Client, reader: httpx.Client
) -> None:
    email_id = _inject(sandbox, "quarantined")
    answer = sender.post(f"/v1/emails/{email_id}/not-spam").json()
    assert (answer["status"], answer["label"]) == ("unread", "not_spam")
    inbox = reader.get(f"{sandbox.mb}/emails").json()["emails"]
    assert [(e["id"], e["status"]) for e in inbox] == [(email_id, "unread")]
    assert reader.get("/v1/emails").json()["emails"] == []
    # labelling again changes nothing but the label
    assert sender.post(f"/v1/emails/{email_id}/not-spam").json()["status"] == "unread"
    actions = [e["action"] for e in sandbox.client("admin").get("/v1/audit-log").json()["entries"]]
    assert actions.count("email.marked_not_spam") == 2


def test_not_spam_keeps_the_gated_all_operators_gate(
    sandbox: Sandbox, sender: httpx.Client, admin: httpx.Client
) -> None:
    admin.patch(sandbox.mb, json={"oversight_mode": "gated_all"})
    email_id = _inject(sandbox, "flagged")
    answer = sender.post(f"/v1/emails/{email_id}/not-spam").json()
    assert answer["status"] == "pending_inbound_approval"
    assert [p["id"] for p in sandbox.control.pending()] == [email_id]


@pytest.mark.parametrize("action", ["report-spam", "not-spam"])
def test_labels_refuse_foreign_unknown_and_outbound_mail(
    sandbox: Sandbox, sender: httpx.Client, reader: httpx.Client, action: str
) -> None:
    foreign = sandbox.control.inject_inbound(
        sandbox.seed.second_mailbox_id, sender="x@example.net", subject="s", markdown="x"
    )["id"]
    assert sender.post(f"/v1/emails/{foreign}/{action}").status_code == 404
    assert sender.post(f"/v1/emails/em_nope/{action}").status_code == 404
    sent = sender.post(f"{sandbox.mb}/send", json=send_body()).json()["id"]
    refused = sender.post(f"/v1/emails/{sent}/{action}")
    assert refused.status_code == 400
    assert "inbound" in refused.json()["error"]
    own = _inject(sandbox)
    assert reader.post(f"/v1/emails/{own}/{action}").status_code == 403  # needs send
    other = sandbox.client(sandbox.seed.second_tenant_key)
    assert other.get("/v1/emails").json()["emails"] == []


def test_mail_of_a_deleted_mailbox_is_gone(
    sandbox: Sandbox, sender: httpx.Client, admin: httpx.Client, reader: httpx.Client
) -> None:
    email_id = _inject(sandbox, "flagged")
    admin.delete(sandbox.mb)
    assert sender.post(f"/v1/emails/{email_id}/report-spam").status_code == 404
    assert reader.get("/v1/emails").json()["emails"] == []
