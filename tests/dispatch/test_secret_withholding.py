"""Secrets stay out of every output, whatever the answer's shape (review G, findings 2, 3
and 5): nested fields, echoes as keys, error answers, structured values, the webhook
signing secret; and an ``async def`` on_secret never loses a shown-once key."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx

from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.dispatch import handoff as handoff_module
from mm_assistants.dispatch.handoff import WITHHELD, SecretHandoff
from mm_assistants.dispatch.policy import Refusal
from mm_assistants.dispatch.withholding import WITHHELD_IN_ERROR, withhold, withhold_error
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient
from mm_assistants.tools import load_registry
from tests.dispatch.conftest import BASE, FAST_RETRY, KEY, Harness, call

RAW_KEY = "mm_live_SECRETKEY_0123456789abcdef"
PORTAL = "https://billing.stripe.test/p/session/bps_SIGNED_9f8e7d"
WHSEC = "whsec_SIGNINGSECRET123"
ACTIVATE = ("activate_account", {"code": "ABC123"}, "/v1/confirm")
WEBHOOK_ARGS = {
    "url": "https://hooks.example/x",
    "events": ["message.received"],
    "mailbox_id": "mbx_1",
    "approval_code": "424242",
}


def run(
    harness: Harness,
    api: respx.MockRouter,
    tool: str,
    arguments: dict[str, Any],
    path: str,
    response: httpx.Response,
    handed: list[SecretHandoff],
    version: str = "v1",
) -> Any:
    api.post(path).mock(return_value=response)
    return harness.run(
        call(tool, arguments),
        registry=load_registry(version),
        tools=[tool],
        on_secret=handed.append,
    )


def test_the_webhook_signing_secret_goes_to_the_operator(
    harness: Harness, api: respx.MockRouter
) -> None:
    handed: list[SecretHandoff] = []
    answer = {"id": "wh_1", "url": WEBHOOK_ARGS["url"], "signing_secret": WHSEC}
    response = httpx.Response(201, json=answer)
    result = run(harness, api, "create_webhook", WEBHOOK_ARGS, "/v1/webhooks", response, handed)
    assert result.ok, result.output
    assert WHSEC not in result.output
    assert json.loads(result.output)["signing_secret"] == dict(WITHHELD)
    assert [(h.field, h.value) for h in handed] == [("signing_secret", WHSEC)]


def test_create_webhook_needs_on_secret_like_the_other_shown_once_secrets(
    harness: Harness, api: respx.MockRouter
) -> None:
    sent = api.post("/v1/webhooks").mock(return_value=httpx.Response(201, json={}))
    result = harness.run(call("create_webhook", WEBHOOK_ARGS), tools=["create_webhook"])
    assert result.error_type == "secret_handoff_unavailable"
    assert sent.call_count == 0


def test_a_nested_secret_is_withheld_in_place_and_handed_over_by_its_path(
    harness: Harness, api: respx.MockRouter
) -> None:
    handed: list[SecretHandoff] = []
    response = httpx.Response(200, json={"data": {"api_key": RAW_KEY, "status": "active"}})
    result = run(harness, api, *ACTIVATE, response, handed)
    assert result.ok
    assert RAW_KEY not in result.output
    assert RAW_KEY in json.dumps([h.value for h in handed])
    assert [h.field for h in handed] == ["data.api_key"]
    assert dict(WITHHELD) in _values(json.loads(result.output))


def test_a_secret_echoed_as_a_key_is_scrubbed(harness: Harness, api: respx.MockRouter) -> None:
    handed: list[SecretHandoff] = []
    response = httpx.Response(200, json={"api_key": RAW_KEY, "keys": {RAW_KEY: "active"}})
    result = run(harness, api, *ACTIVATE, response, handed)
    assert result.ok
    assert RAW_KEY not in result.output
    assert [h.value for h in handed] == [RAW_KEY]


def test_a_structured_secret_is_handed_over_as_json_and_its_parts_scrubbed(
    harness: Harness, api: respx.MockRouter
) -> None:
    handed: list[SecretHandoff] = []
    secret = {"value": RAW_KEY, "prefix": "mm_live"}
    answer = {"api_key": secret, "hint": f"use {RAW_KEY}", "prefix": "mm_live"}
    result = run(harness, api, *ACTIVATE, httpx.Response(200, json=answer), handed)
    assert result.ok
    assert RAW_KEY not in result.output
    assert json.loads(handed[0].value) == secret  # JSON, not Python's repr
    assert "mm_live" in result.output  # a short public part stays


@pytest.mark.parametrize(
    ("tool", "arguments", "path", "version", "status", "body", "secret"),
    [
        pytest.param(
            *ACTIVATE, "v1", 409, {"error": "already activated", "api_key": RAW_KEY}, RAW_KEY,
            id="key-field",
        ),
        pytest.param(
            *ACTIVATE, "v1", 409, {"error": "x", "extra": {"api_key": RAW_KEY}}, RAW_KEY,
            id="nested-key-field",
        ),
        pytest.param(
            "get_billing_portal", {}, "/v1/billing/portal", "v2", 400,
            {"error": "portal busy", "portal_url": PORTAL}, PORTAL, id="portal-field",
        ),
        pytest.param(
            *ACTIVATE, "v1", 500, {"error": f"could not store {RAW_KEY}"}, RAW_KEY,
            id="key-in-message",
        ),
        pytest.param(
            "create_webhook", WEBHOOK_ARGS, "/v1/webhooks", "v1", 409,
            {"error": "duplicate", "hint": f"the existing one signs with {WHSEC}"}, WHSEC,
            id="webhook-secret-in-hint",
        ),
        pytest.param(
            "get_billing_portal", {}, "/v1/billing/portal", "v2", 400,
            {"error": f"open {PORTAL} instead"}, PORTAL, id="link-in-message",
        ),
    ],
)  # fmt: skip
def test_an_error_answer_never_shows_the_secret(
    harness: Harness,
    api: respx.MockRouter,
    tool: str,
    arguments: dict[str, Any],
    path: str,
    version: str,
    status: int,
    body: dict[str, Any],
    secret: str,
) -> None:
    handed: list[SecretHandoff] = []
    response = httpx.Response(status, json=body)
    result = run(harness, api, tool, arguments, path, response, handed, version)
    assert not result.ok
    assert result.error_type == "api_error"
    assert result.http_status == status
    assert secret not in result.output
    assert handed == []  # an error answer's secret is not trusted enough to hand over
    assert json.loads(result.output)["error"]["message"]  # the model still learns why


def test_an_error_keeps_its_words_and_marks_a_withheld_field() -> None:
    refusal = Refusal("api_error", "code expired", [{"status": 409, "api_key": RAW_KEY}])
    withheld = withhold_error("activate_account", refusal)
    assert withheld.message == "code expired"
    assert withheld.details == [{"status": 409, "api_key": dict(WITHHELD_IN_ERROR)}]
    assert withhold_error("check_inbox", refusal) is refusal  # no secrets: untouched


def test_withhold_leaves_an_answer_without_secrets_alone() -> None:
    answer = {"status": "approval_required", "items": [{"id": "k1"}]}
    assert withhold("create_api_key", answer) == (answer, {})
    assert withhold("check_inbox", {"api_key": RAW_KEY}) == ({"api_key": RAW_KEY}, {})


# -- on_secret that is async -------------------------------------------------------------


async def _activate(on_secret: Any, answer: dict[str, Any]) -> Any:
    async with AsyncMultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
        with respx.mock(base_url=BASE) as mock:
            mock.post("/v1/confirm").mock(return_value=httpx.Response(200, json=answer))
            dispatcher = AsyncDispatcher(
                client, tools=["activate_account"], mailbox_id=None, on_secret=on_secret
            )
            return await dispatcher.dispatch(call("activate_account", {"code": "ABC123"}))


def test_async_dispatcher_awaits_an_async_on_secret() -> None:
    vault: dict[str, str] = {}

    async def store(handoff: SecretHandoff) -> None:
        await asyncio.sleep(0)
        vault[handoff.field] = handoff.value

    result = asyncio.run(_activate(store, {"api_key": RAW_KEY, "status": "active"}))
    assert result.ok, result.output
    assert vault == {"api_key": RAW_KEY}
    assert RAW_KEY not in result.output


def test_async_dispatcher_awaits_what_a_plain_callable_returns() -> None:
    vault: list[str] = []

    async def store(handoff: SecretHandoff) -> None:
        vault.append(handoff.value)

    result = asyncio.run(_activate(lambda h: store(h), {"api_key": RAW_KEY}))
    assert result.ok
    assert vault == [RAW_KEY]


def test_an_async_on_secret_that_hangs_is_a_failed_handoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handoff_module, "HANDOFF_TIMEOUT", 0.05)

    async def hang(handoff: SecretHandoff) -> None:
        await asyncio.sleep(30)

    result = asyncio.run(asyncio.wait_for(_activate(hang, {"api_key": RAW_KEY}), 5))
    assert result.error_type == "secret_handoff_failed"
    assert RAW_KEY not in result.output


def test_an_async_on_secret_that_raises_is_a_failed_handoff() -> None:
    async def broken(handoff: SecretHandoff) -> None:
        raise RuntimeError(f"vault refused {handoff.value}")

    result = asyncio.run(_activate(broken, {"api_key": RAW_KEY}))
    assert result.error_type == "secret_handoff_failed"
    assert RAW_KEY not in result.output


class _AsyncVault:
    async def __call__(self, handoff: SecretHandoff) -> None:
        """An object whose call is a coroutine."""


@pytest.mark.parametrize("callback", [_AsyncVault(), _AsyncVault().__call__], ids=["obj", "fn"])
def test_dispatcher_refuses_an_async_on_secret_saying_what_to_pass(callback: Any) -> None:
    with (
        MultiMailClient(api_key=KEY, base_url=BASE) as client,
        pytest.raises(TypeError, match="AsyncDispatcher") as info,
    ):
        Dispatcher(client, on_secret=callback)
    assert "plain function" in str(info.value)


def test_dispatcher_reports_a_callable_that_returns_a_coroutine_and_never_drops_it(
    api: respx.MockRouter,
) -> None:
    stored: list[str] = []

    async def store(handoff: SecretHandoff) -> None:
        stored.append(handoff.value)  # never runs: nobody awaits it

    api.post("/v1/confirm").mock(return_value=httpx.Response(200, json={"api_key": RAW_KEY}))
    with MultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
        dispatcher = Dispatcher(
            client, tools=["activate_account"], mailbox_id=None, on_secret=lambda h: store(h)
        )
        result = dispatcher.dispatch(call("activate_account", {"code": "ABC123"}))
    assert result.error_type == "secret_handoff_failed"  # not "handed to the operator"
    assert RAW_KEY not in result.output
    assert stored == []  # and no "never awaited" warning (filterwarnings=error)


def _values(value: Any) -> list[Any]:
    """Every value in a JSON document, at any depth."""
    if isinstance(value, dict):
        return [value, *(v for item in value.values() for v in _values(item))]
    if isinstance(value, list):
        return [v for item in value for v in _values(item)]
    return [value]
