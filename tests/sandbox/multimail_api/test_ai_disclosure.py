"""ai_disclosure: on mailboxes, and on what leaves the sandbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mm_assistants.sandbox.multimail_api.signing import read_identity
from mm_assistants.sandbox.multimail_api.store import Store
from tests.sandbox.multimail_api.conftest import Sandbox, send_body


def _delivered(sandbox: Sandbox, admin: httpx.Client) -> dict[str, Any]:
    sent = sandbox.client("send").post(f"{sandbox.mb}/send", json=send_body()).json()
    sandbox.advance(1)
    sandbox.control.decide(sent["id"], "approve")
    [entry] = [m for m in sandbox.control.sent() if m["email_id"] == sent["id"]]
    return entry


def test_mailboxes_disclose_by_default(sandbox: Sandbox, admin: httpx.Client) -> None:
    box = admin.get("/v1/mailboxes").json()["mailboxes"][0]
    assert box["ai_disclosure"] is True
    entry = _delivered(sandbox, admin)
    assert entry["headers"]["X-AI-Generated"] == "true"
    assert entry["body"] == "Hi Bob\n\nThis email was sent by an AI agent."
    claims = read_identity(entry["headers"]["X-MultiMail-Identity"], _secret(sandbox))
    assert claims is not None
    assert (claims["ai_generated"], claims["from"]) == (True, sandbox.seed.address)
    stored = sandbox.control.email(entry["email_id"])
    assert stored is not None
    assert stored["markdown"] == "Hi Bob"  # added on the way out only


@pytest.mark.parametrize(
    ("route", "value"),
    [
        pytest.param("", False, id="patch"),
        pytest.param("/configure", False, id="configure"),
        pytest.param("/configure", 0, id="configure-0"),
    ],
)
def test_turning_disclosure_off(
    sandbox: Sandbox, admin: httpx.Client, route: str, value: object
) -> None:
    assert admin.patch(sandbox.mb + route, json={"ai_disclosure": value}).status_code == 200
    assert admin.get("/v1/mailboxes").json()["mailboxes"][0]["ai_disclosure"] is False
    entry = _delivered(sandbox, admin)
    assert "X-AI-Generated" not in entry["headers"]
    assert entry["body"] == "Hi Bob"
    claims = read_identity(entry["headers"]["X-MultiMail-Identity"], _secret(sandbox))
    assert claims is not None
    assert claims["ai_generated"] is False


def test_configure_takes_bits_and_refuses_other_values(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    configured = admin.patch(f"{sandbox.mb}/configure", json={"scheduling_enabled": 0})
    assert configured.status_code == 200
    assert admin.get("/v1/mailboxes").json()["mailboxes"][0]["scheduling_enabled"] is False
    for bad in (2, "yes", None):
        assert admin.patch(sandbox.mb, json={"ai_disclosure": bad}).status_code == 400


def test_a_new_mailbox_may_start_without_disclosure(sandbox: Sandbox, admin: httpx.Client) -> None:
    admin.post("/v1/mailboxes", json={"address_local": "human"})
    code = sandbox.control.codes("create_mailbox")[0]["id"]
    body = {"address_local": "human", "ai_disclosure": False, "approval_code": code}
    made = admin.post("/v1/mailboxes", json=body).json()
    assert made["ai_disclosure"] is False
    boxes = {
        b["address"]: b["ai_disclosure"] for b in admin.get("/v1/mailboxes").json()["mailboxes"]
    }
    assert boxes == {sandbox.seed.address: True, "human@sandbox.multimail.dev": False}


def test_a_forged_identity_claim_does_not_read(sandbox: Sandbox) -> None:
    assert read_identity("e30.00", _secret(sandbox)) is None
    assert read_identity("!!!", _secret(sandbox)) is None


def _secret(sandbox: Sandbox) -> str:
    # the sandbox's own secret (in its file), as a receiver would hold MultiMail's key
    store = Store(sandbox.db_path)
    try:
        return store.secret()
    finally:
        store.close()
