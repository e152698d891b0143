"""The v2 registry: its endpoints, the annotation rule, titles, and constants in the body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from mm_assistants.tools import (
    DEFAULT_SCHEMA_VERSION,
    LATEST_SCHEMA_VERSION,
    SCHEMA_VERSIONS,
    Endpoint,
    ToolArgumentError,
    ToolRegistry,
    ToolSpec,
    load_registry,
)
from mm_assistants.tools.binding import bind_request
from mm_assistants.tools.endpoints import ENDPOINTS_V1
from mm_assistants.tools.endpoints_v2 import ENDPOINTS_V2

#: The eight tools v2 adds to v1, in the order the v2 registry lists them after v1's.
NEW_TOOLS = (
    "report_spam",
    "not_spam",
    "list_spam",
    "upgrade_plan",
    "get_billing_portal",
    "cancel_subscription",
    "request_challenge",
    "create_account",
)
POW = {"algorithm": "SHA-256", "challenge": "ab", "number": 7, "salt": "s", "signature": "cd"}
SIGNUP: dict[str, Any] = {
    "operator_name": "Acme",
    "oversight_email": "ops@example.com",
    "accepted_tos": True,
    "accepted_operator_agreement": True,
    "accepted_anti_spam_policy": True,
    "pow_solution": POW,
}


def annotation_disagreements(registry: Mapping[str, ToolSpec]) -> list[str]:
    """Tools whose MCP annotations disagree with their endpoint's effect/idempotency."""
    found = []
    for name, spec in registry.items():
        hints = spec.annotations or {}
        if (
            hints.get("readOnlyHint", False) != (spec.effect == "read")
            or hints.get("destructiveHint", False) != (spec.effect == "destructive")
            or hints.get("idempotentHint", False) != spec.idempotent
        ):
            found.append(name)
    return found


def test_versions_default_and_latest() -> None:
    assert SCHEMA_VERSIONS == ("v1", "v2")
    assert (DEFAULT_SCHEMA_VERSION, LATEST_SCHEMA_VERSION) == ("v1", "v2")
    assert load_registry().version == "v1"
    assert len(load_registry()) == 38  # an existing assistant gains nothing by an upgrade
    v2 = load_registry("v2")
    assert len(v2) == 46
    assert set(v2) - set(load_registry("v1")) == set(NEW_TOOLS)


def test_annotations_agree_with_endpoint_flags() -> None:
    registry = load_registry("v2")
    assert all(registry[name].annotations is not None for name in registry)
    assert annotation_disagreements(registry) == []


@pytest.mark.parametrize(
    ("tool", "change"),
    [
        pytest.param("read_email", {"effect": "read"}, id="read-email-as-v1"),
        pytest.param("configure_mailbox", {"effect": "write"}, id="not-destructive"),
        pytest.param("resend_confirmation", {"idempotent": True}, id="idempotent"),
        pytest.param("list_spam", {"effect": "write"}, id="read-only-hint"),
    ],
)
def test_the_annotation_rule_catches_an_inconsistent_copy(
    tool: str, change: dict[str, Any]
) -> None:
    registry = load_registry("v2")
    specs = [
        ToolSpec(n, replace(s.endpoint, **change), s.definition()) if n == tool else s
        for n, s in registry.items()
    ]
    assert annotation_disagreements(ToolRegistry(specs, version="v2-copy")) == [tool]


def test_v1_has_no_titles_or_annotations_and_v2_has_both() -> None:
    assert load_registry("v1")["send_email"].title is None
    assert load_registry("v1")["send_email"].annotations is None
    spec = load_registry("v2")["report_spam"]
    assert spec.title == "Report spam message"
    assert spec.annotations == {
        "readOnlyHint": False,
        "destructiveHint": False,
        "idempotentHint": False,
    }
    with pytest.raises(TypeError):
        spec.annotations["readOnlyHint"] = True  # type: ignore[index]


@pytest.mark.parametrize(
    ("tool", "method", "path", "scope", "effect", "idempotent"),
    [
        ("report_spam", "POST", "/v1/emails/{email_id}/report-spam", "send", "write", False),
        ("not_spam", "POST", "/v1/emails/{email_id}/not-spam", "send", "write", False),
        ("list_spam", "GET", "/v1/emails", "read", "read", True),
        ("upgrade_plan", "POST", "/v1/billing/checkout", "admin", "write", False),
        ("get_billing_portal", "POST", "/v1/billing/portal", "admin", "read", True),
        ("cancel_subscription", "POST", "/v1/billing/cancel", "admin", "destructive", True),
        ("request_challenge", "POST", "/v1/account/challenge", "none", "write", False),
        ("create_account", "POST", "/v1/account", "none", "write", False),
        ("read_email", "GET", ENDPOINTS_V1["read_email"].path, "read", "write", True),
        ("cancel_message", "POST", ENDPOINTS_V1["cancel_message"].path, "send", "destructive",
         True),
        ("tag_email", "PUT", ENDPOINTS_V1["tag_email"].path, "send", "destructive", True),
        ("configure_mailbox", "PATCH", ENDPOINTS_V1["configure_mailbox"].path, "admin",
         "destructive", True),
        ("resend_confirmation", "POST", "/v1/account/resend-confirmation", "none", "write", False),
    ],
)  # fmt: skip
def test_v2_endpoints(
    tool: str, method: str, path: str, scope: str, effect: str, idempotent: bool
) -> None:
    endpoint = ENDPOINTS_V2[tool]
    assert (endpoint.method, endpoint.path, endpoint.scope) == (method, path, scope)
    assert (endpoint.effect, endpoint.idempotent) == (effect, idempotent)


def test_unchanged_tools_keep_their_v1_endpoint_and_v1_is_untouched() -> None:
    changed = {
        "create_mailbox",
        "update_mailbox",
        "configure_mailbox",
        "resend_confirmation",
        "read_email",
        "cancel_message",
        "tag_email",
    }
    for name, endpoint in ENDPOINTS_V1.items():
        assert (ENDPOINTS_V2[name] == endpoint) is (name not in changed), name
    assert ENDPOINTS_V1["read_email"].effect == "read"
    assert ENDPOINTS_V1["resend_confirmation"].idempotent


@pytest.mark.parametrize("tool", ["create_mailbox", "update_mailbox", "configure_mailbox"])
def test_ai_disclosure_reaches_the_body(tool: str) -> None:
    spec = load_registry("v2")[tool]
    args: dict[str, Any] = dict.fromkeys(spec.parameters["required"])
    if tool == "create_mailbox":
        args["address_local_part"] = "support"
    args["ai_disclosure"] = False
    assert spec.validator.is_valid(args)
    request = load_registry("v2").bind(tool, args, mailbox_id="mbx_1")
    assert request.json is not None
    assert request.json["ai_disclosure"] is False


def test_resend_confirmation_sends_the_oversight_email() -> None:
    request = load_registry("v2").bind(
        "resend_confirmation", {"oversight_email": "ops@example.com"}
    )
    assert request.json == {"oversight_email": "ops@example.com"}
    assert not request.retry_safe


def test_report_spam_binds_the_account_wide_path() -> None:
    request = load_registry("v2").bind("report_spam", {"email_id": "em_1"}, mailbox_id="mbx_1")
    assert (request.method, request.path, request.json) == (
        "POST",
        "/v1/emails/em_1/report-spam",
        {},
    )


def test_list_spam_binds_its_query() -> None:
    request = load_registry("v2").bind(
        "list_spam", {"status": "spam_quarantined", "limit": 5, "cursor": None}
    )
    assert (request.path, request.params) == (
        "/v1/emails",
        {"status": "spam_quarantined", "limit": "5"},
    )


def test_get_billing_portal_sends_no_return_url() -> None:
    registry = load_registry("v2")
    assert registry["get_billing_portal"].parameters["properties"] == {}
    assert registry.bind("get_billing_portal", {}).json == {}
    with pytest.raises(ToolArgumentError, match="return_url"):
        registry.bind("get_billing_portal", {"return_url": "https://evil.example"})


def test_create_account_always_sends_transactional_use() -> None:
    request = load_registry("v2").bind("create_account", {**SIGNUP, "slug": None})
    assert request.json == {**SIGNUP, "email_use_type": "transactional"}
    spec = load_registry("v2")["create_account"]
    assert not spec.validator.is_valid({**SIGNUP, "email_use_type": "marketing"})


def test_a_constant_wins_over_an_argument_of_the_same_name() -> None:
    endpoint = Endpoint(
        "POST", "/v1/x", "none", "write", body=("kind",), constants={"kind": "fixed"}
    )
    request = bind_request("x", endpoint, {"kind": "chosen by the model"})
    assert request.json == {"kind": "fixed"}
    assert bind_request("x", replace(endpoint, method="GET"), {}).json is None
