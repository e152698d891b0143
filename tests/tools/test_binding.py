"""The exact request every one of the 38 tools binds to."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.tools import RequestSpec, ToolArgumentError, load_registry

MB = "/v1/mailboxes/mbx_1"
EMAIL = {"to": ["ana@example.com"], "subject": "Hi", "markdown": "Hello"}

# (tool, arguments, method, path, query, body)
CASES: list[tuple[str, dict[str, Any], str, str, dict[str, str], dict[str, Any] | None]] = [
    ("list_mailboxes", {}, "GET", "/v1/mailboxes", {}, None),
    (
        "send_email",
        {**EMAIL, "cc": None, "idempotency_key": "k1", "mailbox_id": None},
        "POST",
        f"{MB}/send",
        {},
        {**EMAIL, "idempotency_key": "k1"},
    ),
    (
        "check_inbox",
        {"status": "unread", "has_attachments": False, "limit": 5, "direction": "inbound"},
        "GET",
        f"{MB}/emails",
        {"status": "unread", "has_attachments": "false", "limit": "5", "direction": "inbound"},
        None,
    ),
    ("read_email", {"email_id": "em_1"}, "GET", f"{MB}/emails/em_1", {}, None),
    (
        "reply_email",
        {"email_id": "em_1", "markdown": "Thanks", "bcc": ["b@example.com"]},
        "POST",
        f"{MB}/reply/em_1",
        {},
        {"markdown": "Thanks", "bcc": ["b@example.com"]},
    ),
    (
        "download_attachment",
        {"email_id": "em_1", "filename": "q3 report.pdf"},
        "GET",
        f"{MB}/emails/em_1/attachments/q3%20report.pdf/url",
        {},
        None,
    ),
    ("get_thread", {"thread_id": "th_1"}, "GET", f"{MB}/threads/th_1", {}, None),
    ("cancel_message", {"email_id": "em_1"}, "POST", f"{MB}/emails/em_1/cancel", {}, {}),
    (
        "update_mailbox",
        {"display_name": "Support", "oversight_mode": "gated_all", "forward_inbound": True},
        "PATCH",
        MB,
        {},
        {"display_name": "Support", "oversight_mode": "gated_all", "forward_inbound": True},
    ),
    (
        "update_account",
        {"name": "Acme", "oversight_email": None},
        "PATCH",
        "/v1/account",
        {},
        {"name": "Acme"},
    ),
    ("delete_mailbox", {"mailbox_id": "mbx_9"}, "DELETE", "/v1/mailboxes/mbx_9", {}, None),
    ("resend_confirmation", {}, "POST", "/v1/account/resend-confirmation", {}, {}),
    ("activate_account", {"code": "123456"}, "POST", "/v1/confirm", {}, {"code": "123456"}),
    (
        "tag_email",
        {
            "email_id": "em_1",
            "action": "set",
            "tags": [{"key": "stage", "value": "lead"}, {"key": "owner", "value": "ana"}],
            "key": None,
        },
        "PUT",
        f"{MB}/emails/em_1/tags",
        {},
        {"tags": {"stage": "lead", "owner": "ana"}},
    ),
    (
        "add_contact",
        {"name": "Ana", "email": "ana@example.com", "tags": ["vip"]},
        "POST",
        "/v1/contacts",
        {},
        {"name": "Ana", "email": "ana@example.com", "tags": ["vip"]},
    ),
    ("search_contacts", {"query": "ana"}, "GET", "/v1/contacts", {"query": "ana"}, None),
    ("get_account", {}, "GET", "/v1/account", {}, None),
    (
        "create_mailbox",
        {"address_local_part": "support", "display_name": None, "approval_code": "999"},
        "POST",
        "/v1/mailboxes",
        {},
        {"address_local": "support", "approval_code": "999"},
    ),
    (
        "request_upgrade",
        {"target_mode": "autonomous"},
        "POST",
        f"{MB}/request-upgrade",
        {},
        {"target_mode": "autonomous"},
    ),
    ("apply_upgrade", {"code": "42"}, "POST", f"{MB}/upgrade", {}, {"code": "42"}),
    ("get_usage", {"period": "daily"}, "GET", "/v1/usage", {"period": "daily"}, None),
    ("list_pending", {}, "GET", "/v1/oversight/pending", {}, None),
    (
        "decide_email",
        {"email_id": "em_1", "action": "reject", "reason": "tone"},
        "POST",
        "/v1/oversight/decide",
        {},
        {"email_id": "em_1", "action": "reject", "reason": "tone"},
    ),
    ("delete_contact", {"contact_id": "ct+1"}, "DELETE", "/v1/contacts/ct%2B1", {}, None),
    (
        "check_suppression",
        {"limit": 10, "cursor": "c1"},
        "GET",
        "/v1/suppression",
        {"limit": "10", "cursor": "c1"},
        None,
    ),
    (
        "remove_suppression",
        {"email_address": "x+y@example.com"},
        "DELETE",
        "/v1/suppression/x%2By%40example.com",
        {},
        None,
    ),
    ("list_api_keys", {}, "GET", "/v1/api-keys", {}, None),
    (
        "create_api_key",
        {"name": "ci", "scopes": ["read"], "approval_code": None},
        "POST",
        "/v1/api-keys",
        {},
        {"name": "ci", "scopes": ["read"]},
    ),
    ("revoke_api_key", {"key_id": "key_1"}, "DELETE", "/v1/api-keys/key_1", {}, None),
    ("get_audit_log", {"limit": 50}, "GET", "/v1/audit-log", {"limit": "50"}, None),
    ("delete_account", {}, "DELETE", "/v1/account", {}, None),
    (
        "wait_for_email",
        {"timeout_seconds": 30, "filter": {"sender": "ana@example.com", "subject_contains": None}},
        "GET",
        f"{MB}/emails",
        {"sender": "ana@example.com"},
        None,
    ),
    (
        "create_webhook",
        {"url": "https://hooks.example.com/mm", "events": ["message.received"], "mailbox_id": None},
        "POST",
        "/v1/webhooks",
        {},
        {"url": "https://hooks.example.com/mm", "events": ["message.received"]},
    ),
    ("list_webhooks", {}, "GET", "/v1/webhooks", {}, None),
    ("delete_webhook", {"webhook_id": "wh_1"}, "DELETE", "/v1/webhooks/wh_1", {}, None),
    (
        "configure_mailbox",
        {"default_gate_timing": "gate_first", "scheduling_enabled": True},
        "PATCH",
        f"{MB}/configure",
        {},
        {"default_gate_timing": "gate_first", "scheduling_enabled": True},
    ),
    (
        "schedule_email",
        {**EMAIL, "send_at": "2026-12-01T09:00:00Z", "gate_timing": "schedule_first"},
        "POST",
        f"{MB}/send",
        {},
        {**EMAIL, "send_at": "2026-12-01T09:00:00Z", "gate_timing": "schedule_first"},
    ),
    (
        "edit_scheduled_email",
        {"email_id": "em_1", "send_at": "2026-12-02T09:00:00Z", "subject": "New"},
        "PATCH",
        f"{MB}/emails/em_1/schedule",
        {},
        {"send_at": "2026-12-02T09:00:00Z", "subject": "New"},
    ),
]


def test_the_table_covers_every_tool() -> None:
    assert sorted(case[0] for case in CASES) == sorted(load_registry())


@pytest.mark.parametrize(
    ("tool", "arguments", "method", "path", "query", "body"),
    [pytest.param(*case, id=case[0]) for case in CASES],
)
def test_bind_builds_the_exact_request(
    tool: str,
    arguments: dict[str, Any],
    method: str,
    path: str,
    query: dict[str, str],
    body: dict[str, Any] | None,
) -> None:
    spec = load_registry().bind(tool, arguments, mailbox_id="mbx_1")
    assert isinstance(spec, RequestSpec)
    assert (spec.tool, spec.method, spec.path) == (tool, method, path)
    assert dict(spec.params) == query
    assert spec.json == body


def test_an_explicit_mailbox_wins_over_the_default_and_is_encoded() -> None:
    spec = load_registry().bind(
        "read_email", {"email_id": "em+1", "mailbox_id": "a@b"}, mailbox_id="x"
    )
    assert spec.path == "/v1/mailboxes/a%40b/emails/em%2B1"


def test_a_mailbox_tool_without_any_mailbox_says_what_is_missing() -> None:
    with pytest.raises(ToolArgumentError, match="mailbox_id is required") as info:
        load_registry().bind("check_inbox", {})
    assert info.value.field == "mailbox_id"


@pytest.mark.parametrize(
    ("arguments", "method", "path"),
    [
        pytest.param({"action": "get"}, "GET", f"{MB}/emails/em_1/tags", id="get"),
        pytest.param(
            {"action": "delete", "key": "stage"},
            "DELETE",
            f"{MB}/emails/em_1/tags/stage",
            id="delete",
        ),
    ],
)
def test_tag_email_action_picks_the_method(
    arguments: dict[str, Any], method: str, path: str
) -> None:
    spec = load_registry().bind("tag_email", {"email_id": "em_1", **arguments}, mailbox_id="mbx_1")
    assert (spec.method, spec.path, spec.json) == (method, path, None)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        pytest.param({"action": "set", "tags": []}, "tags", id="set-without-tags"),
        pytest.param({"action": "delete", "key": None}, "key", id="delete-without-key"),
    ],
)
def test_tag_email_refuses_incomplete_actions(arguments: dict[str, Any], field: str) -> None:
    with pytest.raises(ToolArgumentError) as info:
        load_registry().bind("tag_email", {"email_id": "em_1", **arguments}, mailbox_id="mbx_1")
    assert info.value.field == field


def test_an_argument_the_table_does_not_place_is_refused() -> None:
    with pytest.raises(ToolArgumentError, match="does not take the argument 'colour'"):
        load_registry().bind("read_email", {"email_id": "e", "colour": "red"}, mailbox_id="m")


@pytest.mark.parametrize(
    ("tool", "arguments", "retry_safe"),
    [
        pytest.param("read_email", {"email_id": "e"}, True, id="read"),
        pytest.param("send_email", EMAIL, False, id="send-without-key"),
        pytest.param("send_email", {**EMAIL, "idempotency_key": "k"}, True, id="send-with-key"),
        pytest.param("cancel_message", {"email_id": "e"}, True, id="cancel-is-idempotent"),
        pytest.param("decide_email", {"email_id": "e", "action": "approve"}, False, id="decide"),
    ],
)
def test_retry_safety_follows_idempotency(
    tool: str, arguments: dict[str, Any], retry_safe: bool
) -> None:
    spec = load_registry().bind(tool, arguments, mailbox_id="mbx_1")
    assert spec.retry_safe is retry_safe


def test_every_schema_property_has_a_place_in_its_endpoint() -> None:
    registry = load_registry()
    for name, spec in registry.items():
        endpoint = spec.endpoint
        placed = set(endpoint.query) | set(endpoint.body) | {"mailbox_id", "timeout_seconds"}
        placed |= {part.strip("{}") for part in endpoint.path.split("/") if part.startswith("{")}
        placed |= {"action", "key", "filter"}  # consumed by the special binders
        assert set(spec.parameters["properties"]) <= placed, name


def test_request_spec_repr_hides_the_body() -> None:
    spec = load_registry().bind("send_email", {**EMAIL, "markdown": "secret plans"}, mailbox_id="m")
    assert "secret plans" not in repr(spec)
    assert spec.idempotency_key is None
