"""API keys and billing links in MultiMail's answers reach the operator's callback, never
the model, the audit trail or the logs; with no callback the tools are refused up front."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx

from mm_assistants.dispatch import AuditRecord
from mm_assistants.dispatch.handoff import WITHHELD, SecretHandoff
from mm_assistants.tools import load_registry
from tests.dispatch.conftest import Harness, call

RAW_KEY = "mm_live_Zq81ShownOnceKey0000000000"
PORTAL = "https://billing.stripe.test/p/session/bps_SIGNED_9f8e7d"
CHECKOUT = "https://checkout.stripe.test/c/pay/cs_SIGNED_1a2b3c"


@dataclass(frozen=True)
class Case:
    """A tool whose answer carries a secret, and the mock that answers it."""

    tool: str
    version: str
    arguments: dict[str, Any]
    route: tuple[str, str]
    answer: dict[str, Any]
    field: str
    secret: str


CASES = [
    Case(
        "activate_account",
        "v1",
        {"code": "ABC123"},
        ("POST", "/v1/confirm"),
        {"status": "active", "api_key": RAW_KEY, "mailbox_id": "mbx_9"},
        "api_key",
        RAW_KEY,
    ),
    Case(
        "create_api_key",
        "v1",
        {"name": "ci", "scopes": ["read"], "approval_code": "424242"},
        ("POST", "/v1/api-keys"),
        {"id": "key_1", "api_key": RAW_KEY, "prefix": "mm_live_Zq81", "name": "ci"},
        "api_key",
        RAW_KEY,
    ),
    Case(
        "get_billing_portal",
        "v2",
        {},
        ("POST", "/v1/billing/portal"),
        {"portal_url": PORTAL},
        "portal_url",
        PORTAL,
    ),
    Case(
        "upgrade_plan",
        "v2",
        {"plan": "pro", "interval": None},
        ("POST", "/v1/billing/checkout"),
        {"checkout_url": CHECKOUT, "session_id": "cs_1"},
        "checkout_url",
        CHECKOUT,
    ),
]


IDS = [case.tool for case in CASES]


def _mock(api: respx.MockRouter, route: tuple[str, str], answer: Any) -> respx.Route:
    return api.route(method=route[0], path=route[1]).mock(
        return_value=httpx.Response(200, json=answer)
    )


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_secret_goes_to_the_callback_and_the_model_reads_a_marker(
    harness: Harness, api: respx.MockRouter, caplog: pytest.LogCaptureFixture, case: Case
) -> None:
    tool, field, secret = case.tool, case.field, case.secret
    caplog.set_level(logging.DEBUG)
    handed: list[SecretHandoff] = []
    records: list[AuditRecord] = []
    _mock(api, case.route, case.answer)
    result = harness.run(
        call(tool, case.arguments, call_id="call_s"),
        registry=load_registry(case.version),
        tools=[tool],
        on_secret=handed.append,
        audit=records.append,
    )
    assert result.ok, result.output
    assert handed == [SecretHandoff(tool=tool, call_id="call_s", field=field, value=secret)]
    output = json.loads(result.output)
    assert output[field] == dict(WITHHELD)  # in plain view, not under "untrusted"
    assert secret not in result.output
    assert secret not in repr(result)
    assert secret not in json.dumps([record.as_dict() for record in records])
    assert all(secret not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_with_no_callback_the_tool_is_refused_before_any_request(
    harness: Harness, api: respx.MockRouter, case: Case
) -> None:
    sent = _mock(api, case.route, case.answer)
    result = harness.run(
        call(case.tool, case.arguments), registry=load_registry(case.version), tools=[case.tool]
    )
    assert not result.ok
    assert result.error_type == "secret_handoff_unavailable"
    assert "on_secret" in json.loads(result.output)["error"]["message"]
    assert sent.call_count == 0
    assert len(api.calls) == 0


def test_a_callback_that_raises_becomes_an_error_without_the_secret(
    harness: Harness, api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def broken(handoff: SecretHandoff) -> None:
        raise RuntimeError(f"vault refused {handoff.value}")  # a message quoting the secret

    _mock(api, ("POST", "/v1/confirm"), {"status": "active", "api_key": RAW_KEY})
    result = harness.run(
        call("activate_account", {"code": "ABC123"}),
        tools=["activate_account"],
        on_secret=broken,
    )
    assert not result.ok
    assert result.error_type == "secret_handoff_failed"
    assert result.http_status == 200
    message = json.loads(result.output)["error"]["message"]
    assert "succeeded at MultiMail" in message
    assert "api_key" in message
    assert RAW_KEY not in result.output
    logged = [record.getMessage() for record in caplog.records]
    assert any("on_secret failed for api_key of activate_account" in line for line in logged)
    assert all(RAW_KEY not in line for line in logged)


def test_a_secret_echoed_elsewhere_in_the_answer_is_scrubbed_there_too(
    harness: Harness, api: respx.MockRouter
) -> None:
    answer = {"id": "key_1", "api_key": RAW_KEY, "hint": f"export MULTIMAIL_API_KEY={RAW_KEY}"}
    _mock(api, ("POST", "/v1/api-keys"), answer)
    handed: list[SecretHandoff] = []
    result = harness.run(
        call("create_api_key", {"name": "ci", "scopes": ["read"], "approval_code": "1"}),
        tools=["create_api_key"],
        on_secret=handed.append,
    )
    assert result.ok
    assert RAW_KEY not in result.output
    assert "[withheld]" in result.output
    assert [h.value for h in handed] == [RAW_KEY]


def test_an_answer_without_the_secret_hands_nothing_over(
    harness: Harness, api: respx.MockRouter
) -> None:
    # create_api_key's first call only mails the operator an approval code.
    _mock(api, ("POST", "/v1/api-keys"), {"status": "approval_required"})
    handed: list[SecretHandoff] = []
    result = harness.run(
        call("create_api_key", {"name": "ci", "scopes": ["read"], "approval_code": None}),
        tools=["create_api_key"],
        on_secret=handed.append,
    )
    assert result.ok
    assert handed == []
    assert json.loads(result.output) == {"status": "approval_required"}


def test_a_handoff_never_shows_its_value() -> None:
    handoff = SecretHandoff(tool="activate_account", call_id="c1", field="api_key", value=RAW_KEY)
    assert RAW_KEY not in repr(handoff)
    assert RAW_KEY not in str(handoff)
    assert str(handoff) == "api_key of activate_account (call c1)"
    assert handoff.value == RAW_KEY


def test_on_secret_must_be_callable() -> None:
    from mm_assistants.dispatch import Dispatcher
    from mm_assistants.multimail import MultiMailClient

    with (
        MultiMailClient(api_key="k", base_url="https://mm.test") as client,
        pytest.raises(TypeError, match="on_secret"),
    ):
        Dispatcher(client, on_secret="vault")  # type: ignore[arg-type]
