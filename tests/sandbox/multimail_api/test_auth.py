"""Keys, scopes and tenant isolation."""

from __future__ import annotations

import pytest

from tests.sandbox.multimail_api.conftest import Sandbox, send_body


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_a_key_is_accepted_in_either_header(sandbox: Sandbox, header: str) -> None:
    answer = sandbox.client("read", header=header).get("/v1/mailboxes")
    assert answer.status_code == 200
    assert [m["id"] for m in answer.json()["mailboxes"]] == [sandbox.seed.mailbox_id]


@pytest.mark.parametrize("key", [None, "mm_test_unknown", ""])
def test_missing_or_unknown_keys_get_401(sandbox: Sandbox, key: str | None) -> None:
    answer = sandbox.client(key).get("/v1/mailboxes")
    assert answer.status_code == 401
    assert set(answer.json()) == {"error"}
    if key:
        assert key not in answer.text


def test_seeded_agent_and_reviewer_keys_read_but_never_both_send_and_approve(
    sandbox: Sandbox,
) -> None:
    for key in ("send", "oversight"):
        assert sandbox.client(key).get(sandbox.mb + "/emails").status_code == 200
    assert sandbox.client("send").get("/v1/oversight/pending").status_code == 403
    assert (
        sandbox.client("oversight").post(sandbox.mb + "/send", json=send_body()).status_code == 403
    )


@pytest.mark.parametrize(
    ("key", "method", "path", "scope"),
    [
        pytest.param("read", "POST", "/send", "send", id="read-cannot-send"),
        pytest.param("send", "GET", "/v1/oversight/pending", "oversight", id="send-cannot-review"),
        pytest.param("oversight", "POST", "/send", "send", id="oversight-cannot-send"),
        pytest.param("send", "GET", "/v1/api-keys", "admin", id="send-not-admin"),
        pytest.param("read", "POST", "/v1/oversight/decide", "oversight", id="read-cannot-decide"),
        pytest.param("read", "PATCH", "", "admin", id="read-cannot-configure"),
    ],
)
def test_each_scope_is_enforced_with_a_403_naming_it(
    sandbox: Sandbox, key: str, method: str, path: str, scope: str
) -> None:
    url = path if path.startswith("/v1") else sandbox.mb + path
    answer = sandbox.client(key).request(method, url, json=send_body())
    assert answer.status_code == 403
    assert f"'{scope}'" in answer.json()["error"]


def test_admin_implies_every_scope(sandbox: Sandbox) -> None:
    admin = sandbox.client("admin")
    assert admin.post(f"{sandbox.mb}/send", json=send_body()).status_code == 202
    assert admin.get("/v1/oversight/pending").status_code == 200
    assert admin.get(f"{sandbox.mb}/emails").status_code == 200


def test_another_tenants_mailbox_and_emails_are_404(sandbox: Sandbox) -> None:
    sent = sandbox.client("send").post(f"{sandbox.mb}/send", json=send_body()).json()
    other = sandbox.client(sandbox.seed.second_tenant_key)
    assert other.get(f"{sandbox.mb}/emails").status_code == 404
    assert other.get(f"{sandbox.mb}/emails/{sent['id']}").status_code == 404
    own = f"/v1/mailboxes/{sandbox.seed.second_mailbox_id}"
    assert other.get(f"{own}/emails/{sent['id']}").json() == {"error": "Email not found"}
    assert other.post(f"{own}/emails/{sent['id']}/cancel").status_code == 404
    assert [m["id"] for m in other.get("/v1/mailboxes").json()["mailboxes"]] == [
        sandbox.seed.second_mailbox_id
    ]


def test_the_seed_keys_never_combine_send_and_oversight(sandbox: Sandbox) -> None:
    keys = sandbox.client("admin").get("/v1/api-keys").json()["api_keys"]
    assert len(keys) == 4
    for key in keys:
        assert not {"send", "oversight"} <= set(key["scopes"])
        assert len(key["prefix"]) == 12
    assert all(raw not in repr(keys) for raw in sandbox.seed.keys.values())
    assert "mm_test_" not in repr(sandbox.seed)


def test_unknown_routes_and_methods_answer_in_the_error_shape(sandbox: Sandbox) -> None:
    client = sandbox.client("read")
    assert client.get("/v1/nope").json() == {"error": "Not found"}
    assert client.get("/v1/nope").status_code == 404
    answer = client.put("/v1/mailboxes")
    assert answer.status_code == 405
    assert "error" in answer.json()


def test_health_needs_no_key(sandbox: Sandbox) -> None:
    assert sandbox.client().get("/health").json() == {"status": "ok"}
