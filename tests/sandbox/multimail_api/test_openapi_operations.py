"""Every operation of MultiMail's OpenAPI document is a route of the sandbox or a
deliberate, explained 404 (`routes_absent.ABSENT`); none answers a 5xx. Also the
operations added for the document: key updates, slug checks, the signing-key document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from mm_assistants.sandbox.multimail_api.routes_absent import ABSENT
from mm_assistants.sandbox.multimail_api.routes_public import SIGNING_KEY_DOCUMENT
from tests.sandbox.multimail_api.conftest import Sandbox

OPENAPI = Path(__file__).resolve().parents[3].parent / "shared/reference/multimail-openapi.json"
_METHODS = ("get", "post", "put", "patch", "delete")
_DUMMY = {"slug": "acme", "filename": "f.txt", "address": "a@example.com", "keyId": "key_x"}
#: Routing misses as Starlette words them through the app's handler (not a handler's 404).
_MISSES = ({"error": "Not found"},)


def _operations() -> list[tuple[str, str]]:
    if not OPENAPI.is_file():
        return []
    doc = json.loads(OPENAPI.read_text())
    found = [(m.upper(), p) for p, ops in doc["paths"].items() for m in ops if m in _METHODS]
    # the destructive ones last, so the others still find the seed's account and mailbox
    return sorted(found, key=lambda op: (op == ("DELETE", "/v1/account"), op[0] == "DELETE"))


def _concrete(template: str, sandbox: Sandbox) -> str:
    values = {**_DUMMY, "mailboxId": sandbox.seed.mailbox_id}
    out = template
    while "{" in out:
        name = out[out.index("{") + 1 : out.index("}")]
        out = out.replace("{" + name + "}", values.get(name, "x"))
    return out


def test_every_operation_is_a_route_or_a_deliberate_404(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    operations = _operations()
    if not operations:
        pytest.skip(f"MultiMail's OpenAPI document is not at {OPENAPI}")
    assert set(ABSENT) <= set(operations)  # no stale rows
    table: dict[str, list[str]] = {"implemented": [], "absent": []}
    for method, template in operations:
        answer = admin.request(method, _concrete(template, sandbox), json={})
        label = f"{method} {template} -> {answer.status_code}"
        assert answer.status_code < 500, label
        assert answer.status_code != 405, label
        body = answer.json() if answer.headers.get("content-type") == "application/json" else {}
        if (method, template) in ABSENT:
            assert answer.status_code == 404, label
            assert body["error"].startswith(f"The sandbox does not emulate {method} "), label
            table["absent"].append(label)
        else:
            assert body not in _MISSES, label
            assert "does not emulate" not in str(body), label
            table["implemented"].append(label)
    assert len(table["implemented"]) + len(table["absent"]) == len(operations)


def test_approval_codes_gate_keys_and_webhooks(sandbox: Sandbox, admin: httpx.Client) -> None:
    # MultiMail's client: the first call mails the operator a code, the second carries it
    for path, body, flow in (
        ("/v1/api-keys", {"name": "ci", "scopes": ["read"]}, "create_api_key"),
        (
            "/v1/webhooks",
            {"url": "https://h.example/x", "events": ["message.sent"]},
            "create_webhook",
        ),
    ):
        first = admin.post(path, json=body)
        assert (first.status_code, first.json()["status"]) == (202, "pending_approval")
        assert "api_key" not in first.json()
        assert "signing_secret" not in first.json()
        wrong = admin.post(path, json={**body, "approval_code": "NOPE"})
        assert wrong.status_code == 403
        code = sandbox.control.approval_code(flow)
        assert admin.post(path, json={**body, "approval_code": code}).status_code == 201
        again = admin.post(path, json={**body, "approval_code": code})
        assert again.status_code == 403  # single use
    assert len(admin.get("/v1/api-keys").json()["api_keys"]) == len(sandbox.seed.keys) + 1


def _made_key(sandbox: Sandbox, admin: httpx.Client, scopes: list[str]) -> dict[str, Any]:
    made = sandbox.approved(admin, "/v1/api-keys", {"name": "bot", "scopes": scopes})
    assert made.status_code == 201, made.text
    key: dict[str, Any] = made.json()
    return key


def test_patch_api_key_renames_and_rescopes(sandbox: Sandbox, admin: httpx.Client) -> None:
    key = _made_key(sandbox, admin, ["read"])
    path = f"/v1/api-keys/{key['id']}"
    assert admin.patch(path, json={"name": "reader"}).json() == {"status": "updated"}
    assert admin.patch(path, json={"scopes": ["read", "send"]}).status_code == 200
    listed = {k["id"]: k for k in admin.get("/v1/api-keys").json()["api_keys"]}
    assert (listed[key["id"]]["name"], listed[key["id"]]["scopes"]) == ("reader", ["read", "send"])
    sender = sandbox.client(key["api_key"])
    assert sender.post(f"{sandbox.mb}/send", json={}).status_code == 400  # send scope now held
    both = admin.patch(path, json={"scopes": ["send", "oversight"]})
    assert both.status_code == 400
    assert "both 'send' and 'oversight'" in both.json()["error"]
    assert admin.patch(path, json={}).status_code == 400
    assert admin.patch("/v1/api-keys/key_nope", json={"name": "x"}).status_code == 404


@pytest.mark.parametrize("scopes", [["read", "oversight"], ["admin"]])
def test_granting_approval_rights_needs_the_operators_code(
    sandbox: Sandbox, admin: httpx.Client, scopes: list[str]
) -> None:
    key = _made_key(sandbox, admin, ["read"])
    path = f"/v1/api-keys/{key['id']}"
    held = admin.patch(path, json={"scopes": scopes})
    assert held.status_code == 202
    reader = sandbox.client(key["api_key"])
    assert reader.get("/v1/oversight/pending").status_code == 403  # not granted yet
    code = sandbox.control.approval_code("add_oversight_scope")
    assert admin.patch(path, json={"scopes": scopes, "approval_code": code}).status_code == 200
    assert reader.get("/v1/oversight/pending").status_code == 200


@pytest.mark.parametrize(
    ("slug", "available", "reason"),
    [
        pytest.param("fresh-co", True, None, id="free"),
        pytest.param("support", False, "reserved", id="reserved"),
        pytest.param("-bad-", False, "invalid", id="invalid"),
    ],
)
def test_slug_check(sandbox: Sandbox, slug: str, available: bool, reason: str | None) -> None:
    answer = sandbox.client().get(f"/v1/slug-check/{slug}").json()
    assert answer["available"] is available
    assert answer.get("reason") == reason
    assert answer["address_preview"].endswith(f"@{slug}.multimail.dev")


def test_a_taken_slug_gets_free_suggestions(sandbox: Sandbox, admin: httpx.Client) -> None:
    taken = admin.get("/v1/account").json()["slug"]
    answer = sandbox.client().get(f"/v1/slug-check/{taken}").json()
    assert (answer["available"], answer["reason"]) == (False, "taken")
    assert answer["suggestions"]
    assert taken not in answer["suggestions"]


def test_the_signing_key_document_names_the_sandboxs_scheme(sandbox: Sandbox) -> None:
    answer = sandbox.client().get("/.well-known/multimail-signing-key")
    assert answer.json() == SIGNING_KEY_DOCUMENT
    assert answer.json()["public_key"] is None  # an HMAC key is never published


def test_domains_list_is_empty_and_adding_one_is_a_deliberate_404(admin: httpx.Client) -> None:
    assert admin.get("/v1/domains").json() == {"domains": []}
    added = admin.post("/v1/domains", json={"domain": "acme.example"})
    assert added.status_code == 404
    assert "custom domains need DNS" in added.json()["error"]


def test_the_control_verifies_identity_claims(sandbox: Sandbox, sender: httpx.Client) -> None:
    sent = sender.post(
        f"{sandbox.mb}/send", json={"to": ["b@example.com"], "subject": "s", "markdown": "m"}
    )
    assert sent.status_code == 202, sent.text
    sandbox.advance(5)
    overseer = sandbox.client("oversight")
    overseer.post("/v1/oversight/decide", json={"email_id": sent.json()["id"], "action": "approve"})
    wire = [entry for entry in sandbox.control.sent() if entry["headers"]]
    header = wire[0]["headers"]["X-MultiMail-Identity"]
    claims = sandbox.control.read_identity(header)
    assert claims is not None
    assert claims["email_id"] == sent.json()["id"]
    tampered = header[:-1] + ("1" if header[-1] == "0" else "0")
    assert sandbox.control.read_identity(tampered) is None
