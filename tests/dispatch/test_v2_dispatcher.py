"""A dispatcher on the v2 schemas: every v2 tool goes through, a v1 model's calls keep
working (resend_confirmation says what to add), and the signup challenge is solved by
the client and accepted by create_account."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
import respx

from mm_assistants.dispatch import ANY_MAILBOX, Dispatcher, ToolResult
from mm_assistants.dispatch.handoff import SecretHandoff
from mm_assistants.dispatch.plans import PreparedCall
from mm_assistants.multimail import MultiMailClient
from mm_assistants.tools import load_registry
from tests.dispatch.conftest import BASE, KEY, Harness, call

V1 = load_registry("v1")
V2 = load_registry("v2")
#: Arguments an example needs beyond the schema's (a rule the schema cannot state).
NEEDS = {"tag_email": {"tags": [{"key": "topic", "value": "billing"}]}}


def sample(name: str, schema: dict[str, Any]) -> Any:
    """A valid, non-null value for property ``name``."""
    if "anyOf" in schema:
        return sample(name, next(b for b in schema["anyOf"] if b.get("type") != "null"))
    if "enum" in schema:
        return next(value for value in schema["enum"] if value is not None)
    if "const" in schema:
        return schema["const"]
    kinds = schema.get("type", "string")
    kind = next(k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null")
    if kind == "string":
        pattern = schema.get("pattern", "")
        if schema.get("format") == "date-time" or pattern.startswith("^\\d{4}"):
            return "2026-12-01T09:00:00Z"
        if pattern.startswith("^https://"):
            return "https://hooks.example.com/mm"
        if schema.get("format") == "email" or "@]+@" in pattern:
            return "ops@example.com"
        return "ex_1"
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(name, schema.get("items", {}))] * max(schema.get("minItems", 1), 1)
    return strict_example(schema)


def strict_example(schema: dict[str, Any]) -> dict[str, Any]:
    """A call as a strict-mode model sends it: every property, null where optional."""
    required = set(schema.get("required", ()))
    example = {}
    for key, sub in schema.get("properties", {}).items():
        nullable = any(b.get("type") == "null" for b in sub.get("anyOf", ())) or (
            isinstance(sub.get("type"), list) and "null" in sub["type"]
        )
        example[key] = None if nullable or key not in required else sample(key, sub)
    return example


def prepare(name: str, arguments: dict[str, Any]) -> PreparedCall | ToolResult:
    """The v2 dispatcher's verdict on a call, before any request (the scope is not the
    subject here: any mailbox)."""
    with MultiMailClient(api_key=KEY, base_url=BASE) as client:
        dispatcher = Dispatcher(
            client,
            registry=V2,
            tools=[name],
            mailbox_id="mbx_1",
            allowed_mailboxes=ANY_MAILBOX,
            on_secret=lambda _: None,
        )
        return dispatcher.prepare(call(name, arguments))


@pytest.mark.parametrize("name", sorted(V2))
def test_every_v2_tool_goes_through_a_v2_dispatcher(name: str) -> None:
    arguments = strict_example(V2[name].parameters) | NEEDS.get(name, {})
    assert not list(V2[name].validator.iter_errors(arguments))  # the example itself is valid
    prepared = prepare(name, arguments)
    assert isinstance(prepared, PreparedCall), prepared.output


@pytest.mark.parametrize("name", sorted(set(V1) - {"resend_confirmation"}))
def test_a_v1_models_call_is_accepted_by_a_v2_dispatcher(name: str) -> None:
    arguments = strict_example(V1[name].parameters) | NEEDS.get(name, {})
    assert not list(V1[name].validator.iter_errors(arguments))
    prepared = prepare(name, arguments)
    assert isinstance(prepared, PreparedCall), prepared.output
    assert prepared.request.path == V1.bind(name, arguments, mailbox_id="mbx_1").path


def test_a_v1_resend_confirmation_is_told_to_add_oversight_email() -> None:
    refused = prepare("resend_confirmation", {})
    assert isinstance(refused, ToolResult)
    assert refused.error_type == "invalid_arguments"
    error = json.loads(refused.output)["error"]
    assert any("oversight_email" in detail["message"] for detail in error["details"])


def test_the_signup_profile_solves_the_challenge_for_create_account(
    harness: Harness, api: respx.MockRouter
) -> None:
    salt = "c0ffee?expires=4102444800&"
    digest = hashlib.sha256(f"{salt}4242".encode()).hexdigest()
    challenge = {
        "algorithm": "SHA-256",
        "challenge": digest,
        "maxnumber": 100_000,
        "salt": salt,
        "signature": "sig_abc",
    }
    api.post("/v1/account/challenge").mock(return_value=httpx.Response(200, json=challenge))
    created = api.post("/v1/account").mock(
        return_value=httpx.Response(200, json={"status": "confirmation_sent"})
    )
    handed: list[SecretHandoff] = []
    first = harness.run(
        call("request_challenge", {"oversight_email": "ops@example.com"}),
        registry=V2,
        profile="signup",
        mailbox_id=None,
        on_secret=handed.append,
    )
    assert first.ok, first.output
    # The solution echoes the server's strings, so it is framed like them: data to pass on.
    output = json.loads(first.output)
    solution = output["untrusted"]["pow_solution"]
    assert "pass pow_solution to create_account unchanged" in output["note"]
    assert solution["number"] == 4242
    account = strict_example(V2["create_account"].parameters) | {"pow_solution": solution}
    second = harness.run(
        call("create_account", account, call_id="call_2"),
        registry=V2,
        profile="signup",
        mailbox_id=None,
        on_secret=handed.append,
    )
    assert second.ok, second.output
    body = json.loads(created.calls.last.request.content)
    assert body["pow_solution"] == {
        "algorithm": "SHA-256",
        "challenge": digest,
        "number": 4242,
        "salt": salt,
        "signature": "sig_abc",
    }
    assert body["email_use_type"] == "transactional"


def test_a_challenge_over_the_cap_is_refused_with_what_to_do(
    harness: Harness, api: respx.MockRouter
) -> None:
    hostile = {
        "algorithm": "SHA-256",
        "challenge": "0" * 64,
        "maxnumber": 10**15,  # would hash for days
        "salt": "s",
        "signature": "x",
    }
    api.post("/v1/account/challenge").mock(return_value=httpx.Response(200, json=hostile))
    result = harness.run(
        call("request_challenge", {"oversight_email": None}),
        registry=V2,
        profile="signup",
        mailbox_id=None,
        on_secret=lambda _: None,
    )
    assert result.error_type == "challenge_unsolvable"
    assert result.http_status == 200
    assert "request_challenge again" in json.loads(result.output)["error"]["message"]


def test_a_lower_pow_cap_is_the_callers_choice(harness: Harness, api: respx.MockRouter) -> None:
    digest = hashlib.sha256(b"s5").hexdigest()
    answer = {"algorithm": "SHA-256", "challenge": digest, "maxnumber": 10, "salt": "s"}
    api.post("/v1/account/challenge").mock(
        return_value=httpx.Response(200, json=answer | {"signature": "x"})
    )
    result = harness.run(
        call("request_challenge", {"oversight_email": None}),
        registry=V2,
        tools=["request_challenge"],
        mailbox_id=None,
        pow_max_number=9,
    )
    assert result.error_type == "challenge_unsolvable"
    assert "cap of 9" in result.output
