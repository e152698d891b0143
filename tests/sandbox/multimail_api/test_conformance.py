"""The sandbox against MultiMail's published OpenAPI document and the tools' binding table.

The document is read from the shared reference folder beside the repository
(``<repo>/../shared/reference/multimail-openapi.json``); without it these tests skip. Its
``$ref``s are inlined and OpenAPI 3.0's ``nullable`` becomes a JSON Schema ``null`` type.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from mm_assistants.tools.endpoints import ENDPOINTS_V1
from tests.sandbox.multimail_api.conftest import Sandbox, send_body

REPO = Path(__file__).resolve().parents[3]
OPENAPI = REPO.parent / "shared" / "reference" / "multimail-openapi.json"
_DUMMY = {
    "email_id": "em_x",
    "thread_id": "thr_x",
    "filename": "f.txt",
    "contact_id": "ct_x",
    "email_address": "a@example.com",
    "key_id": "key_x",
    "webhook_id": "wh_x",
}
# a key that lacks each scope
# a key without the endpoint's scope; the seeded send and oversight keys also read, so a
# send-only key is made for the read endpoints
_WITHOUT = {"read": "send-only", "send": "read", "oversight": "send", "admin": "send"}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    if not OPENAPI.is_file():
        pytest.skip(f"MultiMail's OpenAPI document is not at {OPENAPI}")
    doc: dict[str, Any] = json.loads(OPENAPI.read_text())
    return doc


def _resolve(node: Any, doc: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, doc) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _resolve(target, doc)
    out = {key: _resolve(value, doc) for key, value in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "oneOf" in out:
        # the usage variants require no field, so a summary also fits the daily shape;
        # "one of them fits" is the claim the document can support
        out["anyOf"] = out.pop("oneOf")
    return out


Check = Callable[[str, str, httpx.Response], None]


@pytest.fixture
def conforms(openapi: dict[str, Any]) -> Check:
    """Assert that an answer fits the document's schema for that path and status."""

    def check(method: str, doc_path: str, answer: httpx.Response) -> None:
        responses = openapi["paths"][doc_path][method.lower()]["responses"]
        status = str(answer.status_code)
        assert status in responses, f"{method} {doc_path} answered {status}: {answer.text}"
        content = responses[status].get("content", {}).get("application/json")
        if content is None:
            return  # the document gives no shape for this answer
        schema = _resolve(content["schema"], openapi)
        jsonschema.Draft7Validator(schema).validate(answer.json())

    return check


def test_every_tool_endpoint_exists_and_checks_its_scope(sandbox: Sandbox) -> None:
    admin = sandbox.client("admin")
    made = sandbox.approved(admin, "/v1/api-keys", {"name": "w", "scopes": ["send"]})
    keys = {**_WITHOUT, "read": made.json()["api_key"]}
    for tool, endpoint in ENDPOINTS_V1.items():
        url = endpoint.path.format(mailbox_id=sandbox.seed.mailbox_id, **_DUMMY)
        if endpoint.scope == "none":
            answer = sandbox.client().request(endpoint.method, url, json={})
            assert answer.status_code != 404, tool
            continue
        answer = sandbox.client(keys[endpoint.scope]).request(endpoint.method, url, json={})
        assert answer.status_code == 403, (tool, answer.text)
        assert f"'{endpoint.scope}'" in answer.json()["error"], tool


def test_the_tool_answers_fit_the_openapi_document(sandbox: Sandbox, conforms: Check) -> None:
    send, read = sandbox.client("send"), sandbox.client("read")
    oversight, admin = sandbox.client("oversight"), sandbox.client("admin")
    mb, mbd = sandbox.mb, "/v1/mailboxes/{mailboxId}"
    inbound = sandbox.control.inject_inbound(
        sender="ann@example.com", subject="Q", markdown="?", spam_score=2
    )
    iid = inbound["id"]

    def call(client: httpx.Client, method: str, url: str, doc_path: str, **kw: Any) -> Any:
        answer = client.request(method, url, **kw)
        conforms(method, doc_path, answer)
        return answer.json() if answer.content else None

    call(read, "GET", "/v1/mailboxes", "/v1/mailboxes")
    sent = call(send, "POST", f"{mb}/send", f"{mbd}/send", json=send_body(idempotency_key="k"))
    call(send, "POST", f"{mb}/send", f"{mbd}/send", json=send_body(idempotency_key="k"))
    call(send, "POST", f"{mb}/reply/{iid}", f"{mbd}/reply/{{emailId}}", json={"markdown": "A"})
    second = call(send, "POST", f"{mb}/send", f"{mbd}/send", json=send_body())
    sandbox.advance(1)  # past the scan: pending_scan is not in the document's status enum
    call(read, "GET", f"{mb}/emails", f"{mbd}/emails")
    call(read, "GET", f"{mb}/emails/{iid}", f"{mbd}/emails/{{emailId}}")
    call(read, "GET", f"{mb}/threads/{inbound['thread_id']}", f"{mbd}/threads/{{threadId}}")
    call(send, "POST", f"{mb}/emails/{second['id']}/cancel", f"{mbd}/emails/{{emailId}}/cancel")
    tags = f"{mbd}/emails/{{emailId}}/tags"
    call(send, "PUT", f"{mb}/emails/{iid}/tags", tags, json={"tags": {"k": "v"}})
    call(read, "GET", f"{mb}/emails/{iid}/tags", tags)
    call(send, "DELETE", f"{mb}/emails/{iid}/tags/k", tags + "/{key}")
    call(oversight, "GET", "/v1/oversight/pending", "/v1/oversight/pending")
    decide = {"email_id": sent["id"], "action": "approve"}
    call(oversight, "POST", "/v1/oversight/decide", "/v1/oversight/decide", json=decide)
    call(read, "GET", f"{mb}/emails", f"{mbd}/emails", params={"direction": "outbound"})
    contact = call(
        send, "POST", "/v1/contacts", "/v1/contacts", json={"name": "A", "email": "a@x.io"}
    )
    call(read, "GET", "/v1/contacts", "/v1/contacts", params={"q": "a"})
    call(send, "DELETE", f"/v1/contacts/{contact['id']}", "/v1/contacts/{contactId}")
    call(read, "GET", "/v1/account", "/v1/account")
    call(admin, "PATCH", "/v1/account", "/v1/account", json={"name": "Acme"})
    call(read, "GET", "/v1/usage", "/v1/usage")
    call(read, "GET", "/v1/usage", "/v1/usage", params={"period": "daily"})
    call(admin, "PATCH", mb, mbd, json={"display_name": "Agent"})
    call(
        send,
        "POST",
        f"{mb}/request-upgrade",
        f"{mbd}/request-upgrade",
        json={"target_mode": "monitored"},
    )
    code = sandbox.control.codes("upgrade")[0]["id"]
    call(send, "POST", f"{mb}/upgrade", f"{mbd}/upgrade", json={"code": code})
    admin.post("/v1/mailboxes", json={"address_local": "extra"})
    code = sandbox.control.codes("create_mailbox")[0]["id"]
    body = {"address_local": "extra", "approval_code": code}
    extra = call(admin, "POST", "/v1/mailboxes", "/v1/mailboxes", json=body)
    call(admin, "DELETE", f"/v1/mailboxes/{extra['id']}", mbd)
    sandbox.control.suppress("gone@example.com")
    call(read, "GET", "/v1/suppression", "/v1/suppression")
    call(admin, "DELETE", "/v1/suppression/gone@example.com", "/v1/suppression/{address}")
    body = {"name": "n", "scopes": ["read"]}
    admin.post("/v1/api-keys", json=body)  # 202: the operator's code, as for mailboxes
    body["approval_code"] = sandbox.control.approval_code("create_api_key")
    key = call(admin, "POST", "/v1/api-keys", "/v1/api-keys", json=body)
    call(admin, "GET", "/v1/api-keys", "/v1/api-keys")
    call(admin, "DELETE", f"/v1/api-keys/{key['id']}", "/v1/api-keys/{keyId}")
    call(admin, "GET", "/v1/audit-log", "/v1/audit-log")
    hook = {"url": "https://h.example/x", "events": ["oversight.pending"]}
    admin.post("/v1/webhooks", json=hook)
    hook["approval_code"] = sandbox.control.approval_code("create_webhook")
    sub = call(admin, "POST", "/v1/webhooks", "/v1/webhooks", json=hook)
    call(admin, "GET", "/v1/webhooks", "/v1/webhooks")
    call(admin, "GET", f"/v1/webhooks/{sub['id']}", "/v1/webhooks/{id}")
    call(admin, "GET", "/v1/webhook-deliveries", "/v1/webhook-deliveries")
    call(admin, "DELETE", f"/v1/webhooks/{sub['id']}", "/v1/webhooks/{id}")
    call(
        sandbox.client(),
        "POST",
        "/v1/account/resend-confirmation",
        "/v1/account/resend-confirmation",
    )
    call(sandbox.client(), "GET", "/health", "/health")
    call(admin, "DELETE", "/v1/account", "/v1/account")
