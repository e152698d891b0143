"""`multimail_tools` itself: the tools it builds and one invocation at a time, through the
SDK's own `invoke_function_tool` and `ToolContext` (no model)."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from typing import Any

import pytest
from agents import FunctionTool
from agents.strict_schema import ensure_strict_json_schema
from agents.tool import invoke_function_tool
from agents.tool_context import ToolContext

from mm_assistants.agents import PARKING_UNSUPPORTED, multimail_tools
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.multimail import MultiMailClient
from mm_assistants.sandbox import Sandbox
from mm_assistants.tools import SCHEMA_VERSIONS, load_registry
from tests.e2e.conftest import SEND, outbound

PROFILES = ["agent", "reviewer"]


def offline(version: str, profile: str) -> Dispatcher:
    """A dispatcher that never sends (its tools are only looked at)."""
    client = MultiMailClient(api_key="mm_live_test", base_url="http://127.0.0.1:9")
    registry = load_registry(version)
    return Dispatcher(client, registry=registry, profile=profile, mailbox_id="mbx_1", audit=None)


async def invoke(tool: FunctionTool, call_id: str, arguments: str) -> Any:
    context = ToolContext(
        context=None, tool_name=tool.name, tool_call_id=call_id, tool_arguments=arguments
    )
    return await invoke_function_tool(function_tool=tool, context=context, arguments=arguments)


def by_name(tools: list[FunctionTool]) -> dict[str, FunctionTool]:
    return {tool.name: tool for tool in tools}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_the_bundled_strict_schemas_pass_the_sdks_strict_check_unchanged(
    version: str, profile: str
) -> None:
    dispatcher = offline(version, profile)
    definitions = dispatcher.tool_definitions("responses")

    tools = multimail_tools(dispatcher)

    assert [tool.name for tool in tools] == [d["name"] for d in definitions]
    for tool, definition in zip(tools, definitions, strict=True):
        assert tool.strict_json_schema is True
        assert tool.description == definition["description"]
        assert tool.params_json_schema == definition["parameters"]
        schema = copy.deepcopy(definition["parameters"])
        assert ensure_strict_json_schema(copy.deepcopy(schema)) == schema


def test_the_pinned_mailbox_is_not_offered_to_the_model() -> None:
    tools = by_name(multimail_tools(offline("v2", "agent")))

    assert "mailbox_id" not in tools["check_inbox"].params_json_schema["properties"]


def test_tools_picks_a_subset_and_refuses_what_the_dispatcher_does_not_enable() -> None:
    dispatcher = offline("v2", "agent")

    picked = multimail_tools(dispatcher, tools=["read_email", "check_inbox"])

    assert [tool.name for tool in picked] == ["check_inbox", "read_email"]
    with pytest.raises(ValueError, match="does not enable decide_email"):
        multimail_tools(dispatcher, tools=["check_inbox", "decide_email"])
    with pytest.raises(TypeError, match="not one string"):
        multimail_tools(dispatcher, tools="check_inbox")


def test_only_a_dispatcher_is_accepted() -> None:
    with pytest.raises(TypeError, match="needs a Dispatcher or AsyncDispatcher, not dict"):
        multimail_tools({})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "on_dispatcher"),
    [
        pytest.param(ApprovalPolicy(park_after=5.0), None, id="given"),
        pytest.param(None, ApprovalPolicy(park_after=5.0), id="dispatcher's"),
    ],
)
def test_parking_is_not_implemented_and_says_why(
    given: ApprovalPolicy | None, on_dispatcher: ApprovalPolicy | None
) -> None:
    dispatcher = offline("v2", "agent")
    dispatcher.approvals = on_dispatcher

    with pytest.raises(NotImplementedError) as raised:
        multimail_tools(dispatcher, approvals=given)

    assert str(raised.value) == PARKING_UNSUPPORTED
    assert "before a tool runs" in PARKING_UNSUPPORTED
    assert "ApprovalPolicy(wait=False)" in PARKING_UNSUPPORTED


async def test_malformed_arguments_are_an_output_for_the_model(
    sandbox: Sandbox, dispatcher: AsyncDispatcher | Dispatcher
) -> None:
    tool = by_name(multimail_tools(dispatcher))["send_email"]

    output = await invoke(tool, "call_bad", '{"to": ["bob@example.com"], "subject": ')
    wrong = await invoke(tool, "call_wrong", json.dumps({"to": "bob", "subject": 3}))

    assert json.loads(output)["error"]["type"] == "invalid_arguments"
    assert json.loads(wrong)["error"]["type"] == "invalid_arguments"
    assert outbound(sandbox) == []


async def test_the_same_tool_call_id_sends_once(
    sandbox: Sandbox, dispatcher: AsyncDispatcher | Dispatcher
) -> None:
    tool = by_name(multimail_tools(dispatcher, approvals=ApprovalPolicy(wait=False)))["send_email"]

    first = json.loads(await invoke(tool, "call_same", json.dumps(SEND)))
    again = json.loads(await invoke(tool, "call_same", json.dumps(SEND)))
    other = json.loads(await invoke(tool, "call_other", json.dumps(SEND)))

    assert again["id"] == first["id"] != other["id"]
    assert len(outbound(sandbox)) == 2


async def test_a_sync_dispatcher_runs_off_the_event_loop(
    sandbox: Sandbox, sync_dispatcher: Dispatcher
) -> None:
    threads: list[threading.Thread] = []
    sync_dispatcher._audit = lambda record: threads.append(threading.current_thread())
    tool = by_name(multimail_tools(sync_dispatcher))["list_mailboxes"]
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    output = json.loads(await invoke(tool, "call_1", "{}"))
    ticker.cancel()

    assert output["mailboxes"][0]["id"] == sandbox.mailbox_id
    assert threads
    assert threads[0] is not threading.main_thread()
    assert ticks > 1  # the loop kept turning while the request was out


async def test_a_cancelled_invocation_ends_the_approval_wait_in_its_thread(
    sandbox: Sandbox, sync_dispatcher: Dispatcher
) -> None:
    long_wait = ApprovalPolicy(max_wait=30, margin=0, first_delay=0.05, max_interval=0.1)
    tool = by_name(multimail_tools(sync_dispatcher, approvals=long_wait))["send_email"]
    ended = threading.Event()
    dispatch = sync_dispatcher.dispatch

    def watched(call: Any, **options: Any) -> Any:
        try:
            return dispatch(call, **options)
        finally:
            ended.set()

    sync_dispatcher.dispatch = watched  # type: ignore[method-assign]
    task = asyncio.create_task(invoke(tool, "call_held", json.dumps(SEND)))
    await asyncio.sleep(0.5)  # the send is made and held; the thread waits for a human
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # the waiting thread ends at once, not after the 30 s the policy allows
    assert await asyncio.to_thread(ended.wait, 5.0)
    assert [email["status"] for email in outbound(sandbox)] == ["pending_send_approval"]
