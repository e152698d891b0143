"""Clients nobody here wrote, other than the openai SDK: LangChain's assistant runnable and
MultiMail's retired Python SDK (``multimail`` on PyPI), each against the sandbox.

LangChain: ``OpenAIAssistantRunnable`` (in ``langchain_classic.agents.openai_assistant``
since LangChain 1.0; ``langchain.agents`` no longer has it) with ``as_agent=True``, driven
by the executor loop a user writes: invoke, dispatch the actions through the library's
dispatcher, invoke again with the outputs, until it finishes.

The Agents SDK (``openai-agents``): an ``Agent`` with the library's `multimail_tools` on
the emulator's Responses API, through ``Runner.run`` with its defaults (the whole history
each turn, no ``previous_response_id``) and ``Runner.run_streamed``.

MultiMail's SDK 0.1.1 (its last release) warns on import that it is retired; the flows
here are what it offers for a mailbox: list, read, download, send.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Callable
from typing import Any

from conformance.mcp_flows import ATTACHMENT, expect
from conformance.sdk import POLL_MS, Rig

#: Executor turns before giving up: the script needs two.
MAX_TURNS = 5


def langchain_assistant(rig: Rig) -> None:
    """``OpenAIAssistantRunnable`` through a tool call to its finish."""
    from langchain_classic.agents.openai_assistant import OpenAIAssistantRunnable
    from langchain_core.agents import AgentFinish

    from mm_assistants.dispatch import ToolCall

    agent = OpenAIAssistantRunnable(
        assistant_id=rig.assistant(), as_agent=True, client=rig.openai, check_every_ms=POLL_MS
    )
    step: Any = agent.invoke({"content": "Newest?"})
    for _ in range(MAX_TURNS):
        if isinstance(step, AgentFinish):
            break
        expect([a.tool for a in step] == ["check_inbox"], f"actions: {step}")
        outputs = [
            {
                "tool_call_id": action.tool_call_id,
                "output": rig.dispatcher.dispatch(
                    ToolCall(action.tool_call_id, action.tool, json.dumps(action.tool_input))
                ).output,
            }
            for action in step
        ]
        step = agent.invoke(
            {"tool_outputs": outputs, "run_id": step[0].run_id, "thread_id": step[0].thread_id}
        )
    expect(isinstance(step, AgentFinish), f"no finish after {MAX_TURNS} turns: {step}")
    answer = str(step.return_values.get("output"))
    expect(rig.email_id in answer, f"the answer does not name {rig.email_id}: {answer!r}")


def _agent(rig: Rig, client: Any) -> Any:
    from agents import Agent, OpenAIResponsesModel, set_tracing_disabled

    from mm_assistants.agents import multimail_tools

    set_tracing_disabled(True)  # traces would go to OpenAI's servers
    return Agent(
        name="inbox",
        model=OpenAIResponsesModel("scripted:inbox", client),
        tools=[*multimail_tools(rig.dispatcher)],
    )


async def _run_agent(rig: Rig, streamed: bool) -> tuple[list[str], str]:
    """One run on a client closed after it: the event kinds seen (streamed) and the answer."""
    import openai
    from agents import Runner

    client = openai.AsyncOpenAI(api_key="sk-sandbox", base_url=rig.openai_url, max_retries=0)
    async with client:
        agent = _agent(rig, client)
        if not streamed:
            result = await Runner.run(agent, "Newest?", max_turns=MAX_TURNS)
            return [], str(result.final_output)
        run = Runner.run_streamed(agent, "Newest?", max_turns=MAX_TURNS)
        kinds = [
            getattr(event, "name", "") or getattr(getattr(event, "data", None), "type", "")
            async for event in run.stream_events()
        ]
        return kinds, str(run.final_output)


def agents_run(rig: Rig) -> None:
    """``Runner.run`` with the SDK's defaults (the whole history each turn), to the answer."""
    _, answer = asyncio.run(_run_agent(rig, streamed=False))
    expect(rig.email_id in answer, f"the answer does not name {rig.email_id}: {answer!r}")


def agents_run_streamed(rig: Rig) -> None:
    """``Runner.run_streamed``: the tool call and text deltas arrive as events."""
    kinds, answer = asyncio.run(_run_agent(rig, streamed=True))
    expect("tool_called" in kinds, f"no tool_called event: {sorted(set(kinds))}")
    expect("response.output_text.delta" in kinds, f"no text deltas: {sorted(set(kinds))}")
    expect(rig.email_id in answer, f"the answer does not name {rig.email_id}: {answer!r}")


def _multimail_sdk(rig: Rig) -> Any:
    with warnings.catch_warnings():
        # its import announces the retirement (a FutureWarning): that is expected here
        warnings.simplefilter("ignore", FutureWarning)
        import multimail
    return multimail.MultiMail(rig.api_key, base_url=rig.multimail_url, timeout=10)


def sdk_read(rig: Rig) -> None:
    """list_mailboxes, list_emails, get_email, download_attachment."""
    with _multimail_sdk(rig) as mm:
        ids = [box["id"] for box in mm.list_mailboxes()]
        expect(rig.mailbox_id in ids, f"mailbox not listed: {ids}")
        listed = mm.list_emails(rig.mailbox_id, direction="inbound")
        expect(rig.email_id in json.dumps(listed), "email not listed")
        email = mm.get_email(rig.mailbox_id, rig.email_id)
        expect(email.get("id") == rig.email_id, f"get_email: {str(email)[:200]}")
        data = mm.download_attachment(rig.mailbox_id, rig.email_id, "q.txt")
        expect(data == ATTACHMENT, f"attachment bytes: {data[:80]!r}")


def sdk_send(rig: Rig) -> None:
    """send_email, held for the operator, approved, delivered."""
    with _multimail_sdk(rig) as mm:
        sent = mm.send_email(
            rig.mailbox_id, to=["bob@example.com"], subject="From the SDK", markdown="Hello."
        )
        expect(sent.get("id"), f"no id: {sent}")
        rig.control.decide(sent["id"], "approve")
        email = rig.control.email(sent["id"])
        expect(email and email.get("delivered_at"), f"not delivered: {email}")


AGENTS: dict[str, Callable[[Rig], None]] = {
    "Runner.run (defaults, no previous_response_id)": agents_run,
    "Runner.run_streamed": agents_run_streamed,
}
LANGCHAIN: dict[str, Callable[[Rig], None]] = {
    "OpenAIAssistantRunnable executor loop": langchain_assistant,
}
MULTIMAIL_SDK: dict[str, Callable[[Rig], None]] = {
    "read: list, get, download_attachment": sdk_read,
    "send_email + operator approval": sdk_send,
}
