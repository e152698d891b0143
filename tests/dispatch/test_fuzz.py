"""Whatever a model sends, dispatch returns a ToolResult and sends nothing invalid."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mm_assistants.dispatch import AsyncDispatcher, Dispatcher, ToolCall, ToolResult
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient, RetryPolicy
from mm_assistants.tools import load_registry

NAMES = sorted(load_registry())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
argument_text = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=100).map(lambda b: b.decode("utf-8", "surrogateescape")),
    json_values.map(json.dumps),
    st.dictionaries(
        st.sampled_from(["to", "email_id", "subject", "limit", "mailbox_id", "x"]), json_values
    ).map(json.dumps),
    st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n),
    st.just('{"a":' * 2000 + "1" + "}" * 2000),
)


class Recorder:
    """A transport that records requests and answers 200 {} (no network)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={})


def make(recorder: Recorder) -> Dispatcher:
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    client = MultiMailClient(
        api_key="mm_test_k",
        base_url="https://mm.test",
        http_client=http,
        retry=RetryPolicy(max_attempts=1),
    )
    return Dispatcher(
        client,
        profile="admin",
        allow_self_approval=True,
        mailbox_id="mbx_1",
        audit=None,
        wait_poll_interval=0.01,
    )


#: What no well-behaved SDK sends, but a hand-built ToolCall may: wrong-typed values.
wrong_types = st.one_of(st.none(), st.integers(), st.binary(max_size=20), json_values)
names = st.one_of(st.sampled_from(NAMES), st.text(max_size=70), wrong_types)
arguments_of_any_type = st.one_of(argument_text, wrong_types)


def check(name: Any, arguments: Any, result: Any, requests: list[httpx.Request]) -> None:
    """The properties every dispatch has, sync or async."""
    assert isinstance(result, ToolResult)
    json.loads(result.output)  # always valid JSON
    result.output.encode("utf-8")
    if not result.ok and result.error_type in {
        "unknown_tool",
        "invalid_arguments",
        "mailbox_not_allowed",
    }:
        assert requests == []
    if requests:
        spec = load_registry()[name]
        empty = arguments is None or (isinstance(arguments, str) and not arguments.strip())
        sent = {} if empty else json.loads(arguments)  # "" or None means no arguments
        assert spec.validator.is_valid(sent), "a request for invalid arguments"


def not_waiting(name: Any) -> Any:
    # The waiting tool polls until its timeout; it is covered in its own tests.
    return "read_email" if name == "wait_for_email" else name


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names, arguments=arguments_of_any_type)
def test_dispatch_never_raises_and_invalid_input_sends_nothing(name: Any, arguments: Any) -> None:
    recorder = Recorder()
    name = not_waiting(name)
    result = make(recorder).dispatch(ToolCall(id="call_x", name=name, arguments=arguments))
    check(name, arguments, result, recorder.requests)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names, arguments=arguments_of_any_type)
def test_async_dispatch_never_raises_and_invalid_input_sends_nothing(
    name: Any, arguments: Any
) -> None:
    recorder = Recorder()
    name = not_waiting(name)

    async def scenario() -> ToolResult:
        http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
        client = AsyncMultiMailClient(
            api_key="mm_test_k",
            base_url="https://mm.test",
            http_client=http,
            retry=RetryPolicy(max_attempts=1),
        )
        dispatcher = AsyncDispatcher(
            client, profile="admin", allow_self_approval=True, mailbox_id="mbx_1", audit=None
        )
        try:
            return await dispatcher.dispatch(ToolCall(id="call_x", name=name, arguments=arguments))
        finally:
            await http.aclose()

    check(name, arguments, asyncio.run(scenario()), recorder.requests)


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param('{"email_id": "\\ud800"}', id="escaped-surrogate"),
        pytest.param("x" * 2_000_000, id="huge"),
        pytest.param("[" * 100_000, id="deep"),
        pytest.param('{"email_id": "e", "email_id": 5}', id="duplicate-keys"),
    ],
)
def test_nasty_argument_strings(arguments: str) -> None:
    recorder = Recorder()
    result = make(recorder).dispatch(ToolCall(id="c", name="read_email", arguments=arguments))
    assert result.error_type == "invalid_arguments"
    assert recorder.requests == []
