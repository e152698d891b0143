"""The id an SDK invocation is dispatched under, and so its idempotency key: the SDK's
``tool_call_id`` is not unique (``""`` from providers that send none, ``call_0`` in every
run of some), so the key also covers the call's arguments, and a call without an id is
never deduplicated."""

from __future__ import annotations

import json

import pytest
from agents import RunConfig
from agents.tool import invoke_function_tool
from agents.tool_context import ToolContext

from mm_assistants.agents import multimail_tools
from mm_assistants.agents.plan import UNKEYED_PREFIX, canonical_arguments, dispatch_call_id
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.sandbox import Sandbox
from tests.e2e.conftest import SEND, outbound

FIRST = {"to": ["alice@example.com"], "subject": "Run 1: invoice", "markdown": "for alice"}
SECOND = {"to": ["bob@example.com"], "subject": "Run 2: different", "markdown": "for bob"}


async def send(
    dispatcher: AsyncDispatcher | Dispatcher,
    call_id: str,
    arguments: dict[str, object],
    group_id: str | None = None,
) -> dict[str, object]:
    tools = multimail_tools(dispatcher, approvals=ApprovalPolicy(wait=False))
    tool = next(tool for tool in tools if tool.name == "send_email")
    text = json.dumps(arguments)
    context = ToolContext(
        context=None,
        tool_name=tool.name,
        tool_call_id=call_id,
        tool_arguments=text,
        run_config=RunConfig(group_id=group_id) if group_id else None,
    )
    output = await invoke_function_tool(function_tool=tool, context=context, arguments=text)
    answer = json.loads(output)
    assert isinstance(answer, dict)
    return answer


@pytest.mark.parametrize("call_id", ["", "call_0"])
async def test_a_different_email_under_a_reused_call_id_is_sent(
    sandbox: Sandbox, dispatcher: AsyncDispatcher | Dispatcher, call_id: str
) -> None:
    # The review's finding 1: the second email was answered with the first's id, unsent.
    first = await send(dispatcher, call_id, FIRST)
    second = await send(dispatcher, call_id, SECOND)

    assert first["id"] != second["id"]
    assert sorted(email["subject"] for email in outbound(sandbox)) == [
        FIRST["subject"],
        SECOND["subject"],
    ]


async def test_the_same_call_repeated_sends_once_whatever_its_spacing(
    sandbox: Sandbox, dispatcher: AsyncDispatcher | Dispatcher
) -> None:
    first = await send(dispatcher, "call_0", SEND)
    reordered = dict(reversed(list(SEND.items())))  # the same arguments, keys reordered
    again = await send(dispatcher, "call_0", reordered)

    assert again["id"] == first["id"]
    assert len(outbound(sandbox)) == 1


async def test_a_call_without_an_id_is_never_deduplicated(
    sandbox: Sandbox, dispatcher: AsyncDispatcher | Dispatcher
) -> None:
    first = await send(dispatcher, "", SEND)
    again = await send(dispatcher, "", SEND)

    assert first["id"] != again["id"]  # no id to recognise a repeat by: sent twice, said so
    assert len(outbound(sandbox)) == 2


async def test_the_runs_group_id_keeps_the_same_call_of_two_conversations_apart(
    sandbox: Sandbox, async_dispatcher: AsyncDispatcher
) -> None:
    one = await send(async_dispatcher, "call_0", SEND, group_id="conversation-1")
    other = await send(async_dispatcher, "call_0", SEND, group_id="conversation-2")
    again = await send(async_dispatcher, "call_0", SEND, group_id="conversation-1")

    assert one["id"] == again["id"] != other["id"]
    assert len(outbound(sandbox)) == 2


def test_dispatch_call_id() -> None:
    same = dispatch_call_id("call_0", '{"a": 1, "b": [2]}')
    assert same == dispatch_call_id("call_0", '{"b":[2],"a":1}')
    assert same.startswith("call_0~")
    assert same != dispatch_call_id("call_0", '{"a": 2, "b": [2]}')
    assert same != dispatch_call_id("call_1", '{"a": 1, "b": [2]}')
    assert same != dispatch_call_id("call_0", '{"a": 1, "b": [2]}', group_id="g")
    unkeyed = {dispatch_call_id("", "{}") for _ in range(3)}
    assert len(unkeyed) == 3
    assert all(each.startswith(UNKEYED_PREFIX) for each in unkeyed)
    assert dispatch_call_id(None, "{}").startswith(UNKEYED_PREFIX)


@pytest.mark.parametrize(
    ("arguments", "canonical"),
    [
        ('{ "b": 1, "a": "é" }', '{"a":"é","b":1}'),
        ('{"to": ', '{"to": '),  # not JSON: as it is (the dispatcher refuses it)
        ("[" * 100_000, "[" * 100_000),  # too deep to parse: as it is
        ('"\\ud800"', '"\ud800"'),  # a lone surrogate survives (hashed with surrogatepass)
    ],
)
def test_canonical_arguments(arguments: str, canonical: str) -> None:
    assert canonical_arguments(arguments) == canonical
    dispatch_call_id("call_0", arguments)  # never raises
