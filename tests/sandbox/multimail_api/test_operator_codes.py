"""An operator's approval code approves one request: the key (name, scopes), the change to a
key (its id, the new scopes), the webhook (its url). Spending it on anything else is refused
and uses it up; raising a key to ``admin`` always needs a code; send with oversight never
passes (the review's finding 3)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sandbox.multimail_api.conftest import Sandbox


def _key_id(admin: httpx.Client, scopes: list[str]) -> str:
    listed = admin.get("/v1/api-keys").json()["api_keys"]
    found: str = next(k["id"] for k in listed if k["scopes"] == scopes)
    return found


def _scopes_of(admin: httpx.Client, key_id: str) -> list[str]:
    listed = admin.get("/v1/api-keys").json()["api_keys"]
    scopes: list[str] = next(k["scopes"] for k in listed if k["id"] == key_id)
    return scopes


def _code(sandbox: Sandbox, flow: str) -> dict[str, Any]:
    """The newest open code of ``flow``, as the operator sees it."""
    return max(sandbox.control.codes(flow), key=lambda c: str(c["created_at"]))


def test_the_operator_sees_what_a_key_code_approves(sandbox: Sandbox, admin: httpx.Client) -> None:
    asked = admin.post("/v1/api-keys", json={"name": "harmless reader", "scopes": ["read"]})
    assert asked.status_code == 202
    code = _code(sandbox, "create_api_key")
    assert (code["name"], code["scopes"]) == ("harmless reader", ["read"])
    key_id = _key_id(admin, ["read"])
    assert admin.patch(f"/v1/api-keys/{key_id}", json={"scopes": ["admin"]}).status_code == 202
    code = _code(sandbox, "add_oversight_scope")
    assert (code["key_id"], code["scopes"]) == (key_id, ["admin"])


@pytest.mark.parametrize(
    "redeemed",
    [
        pytest.param({"name": "harmless reader", "scopes": ["admin"]}, id="other-scopes"),
        pytest.param({"name": "x", "scopes": ["read"]}, id="other-name"),
    ],
)
def test_a_key_code_mints_only_the_key_the_operator_approved(
    sandbox: Sandbox, admin: httpx.Client, redeemed: dict[str, Any]
) -> None:
    body = {"name": "harmless reader", "scopes": ["read"]}
    assert admin.post("/v1/api-keys", json=body).status_code == 202
    code = sandbox.control.approval_code("create_api_key")
    before = len(admin.get("/v1/api-keys").json()["api_keys"])
    refused = admin.post("/v1/api-keys", json={**redeemed, "approval_code": code})
    assert refused.status_code == 400
    assert "different request" in refused.json()["error"]
    assert "api_key" not in refused.json()
    assert len(admin.get("/v1/api-keys").json()["api_keys"]) == before
    # used up: not even the approved request passes with it now; the operator is asked again
    again = admin.post("/v1/api-keys", json={**body, "approval_code": code})
    assert again.status_code == 403
    assert sandbox.control.codes("create_api_key") == []


def test_a_code_to_add_oversight_does_not_grant_admin(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    key_id = _key_id(admin, ["read"])
    path = f"/v1/api-keys/{key_id}"
    assert admin.patch(path, json={"scopes": ["read", "oversight"]}).status_code == 202
    code = sandbox.control.approval_code("add_oversight_scope")
    refused = admin.patch(path, json={"scopes": ["admin"], "approval_code": code})
    assert refused.status_code == 400
    assert "scopes" in refused.json()["error"]
    assert _scopes_of(admin, key_id) == ["read"]


def test_a_code_for_one_key_does_not_change_another(sandbox: Sandbox, admin: httpx.Client) -> None:
    asked = _key_id(admin, ["read"])
    other = _key_id(admin, ["read", "send"])
    scopes = ["read", "oversight"]
    assert admin.patch(f"/v1/api-keys/{asked}", json={"scopes": scopes}).status_code == 202
    code = sandbox.control.approval_code("add_oversight_scope")
    refused = admin.patch(f"/v1/api-keys/{other}", json={"scopes": scopes, "approval_code": code})
    assert refused.status_code == 400
    assert "key_id" in refused.json()["error"]
    assert _scopes_of(admin, other) == ["read", "send"]


def test_an_oversight_key_becomes_admin_only_with_a_code(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    key_id = _key_id(admin, ["read", "oversight"])
    path = f"/v1/api-keys/{key_id}"
    held = admin.patch(path, json={"scopes": ["admin"]})
    assert held.status_code == 202
    assert _scopes_of(admin, key_id) == ["read", "oversight"]
    code = sandbox.control.approval_code("add_oversight_scope")
    assert admin.patch(path, json={"scopes": ["admin"], "approval_code": code}).status_code == 200
    assert _scopes_of(admin, key_id) == ["admin"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(["admin"], ["read", "oversight"], id="admin-narrowed-to-oversight"),
        pytest.param(["read", "oversight"], ["oversight"], id="oversight-keeps-oversight"),
        pytest.param(["read", "oversight"], ["read"], id="oversight-dropped"),
        pytest.param(["read", "send"], ["read"], id="send-dropped"),
    ],
)
def test_narrowing_a_key_needs_no_code(
    sandbox: Sandbox, admin: httpx.Client, old: list[str], new: list[str]
) -> None:
    made = sandbox.approved(admin, "/v1/api-keys", {"name": "narrowed", "scopes": old})
    key_id = made.json()["id"]
    assert admin.patch(f"/v1/api-keys/{key_id}", json={"scopes": new}).status_code == 200
    assert _scopes_of(admin, key_id) == new


def test_send_with_oversight_is_refused_on_every_path(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    both = ["send", "oversight"]
    key_id = _key_id(admin, ["read"])
    path = f"/v1/api-keys/{key_id}"
    # a code honestly issued for oversight does not carry the key over to send as well
    assert admin.patch(path, json={"scopes": ["oversight"]}).status_code == 202
    code = sandbox.control.approval_code("add_oversight_scope")
    for answer in (
        admin.post("/v1/api-keys", json={"name": "n", "scopes": both}),
        admin.post("/v1/api-keys", json={"name": "n", "scopes": both, "approval_code": "X"}),
        admin.patch(path, json={"scopes": both}),
        admin.patch(path, json={"scopes": both, "approval_code": code}),
    ):
        assert answer.status_code == 400
        assert "both 'send' and 'oversight'" in answer.json()["error"]
    assert _scopes_of(admin, key_id) == ["read"]


def test_a_webhook_code_used_for_another_url_is_refused_and_used_up(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    body = {"url": "https://ok.example/h", "events": ["message.received"]}
    assert admin.post("/v1/webhooks", json=body).status_code == 202
    assert _code(sandbox, "create_webhook")["url"] == "https://ok.example/h"
    code = sandbox.control.approval_code("create_webhook")
    evil = {**body, "url": "https://evil.example/h", "approval_code": code}
    refused = admin.post("/v1/webhooks", json=evil)
    assert refused.status_code == 400
    assert "url" in refused.json()["error"]
    assert admin.get("/v1/webhooks").json()["subscriptions"] == []
    assert admin.post("/v1/webhooks", json={**body, "approval_code": code}).status_code == 403
