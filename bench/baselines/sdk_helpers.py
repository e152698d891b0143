"""The openai SDK's own helpers: ``create_and_poll``, then ``submit_tool_outputs_and_poll``
for as long as the run asks for tool outputs.

The tool calls go through the seeds' wrapper (`seed_loop.call_multimail`), one after the
other, so that only the run loop differs from the seed loop; ``call`` swaps in another
wrapper of the same shape (e.g. one on a shared connection pool). Nothing here uses
mm_assistants.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
from openai.types.beta.threads.run_submit_tool_outputs_params import ToolOutput

from bench.baselines import Account
from bench.baselines.seed_loop import call_multimail

MAX_STEPS = 50
ToolFunction = Callable[[Account, str, dict[str, Any]], Any]


def run_with_helpers(
    client: openai.OpenAI,
    account: Account,
    thread_id: str,
    assistant_id: str,
    *,
    call: ToolFunction = call_multimail,
) -> tuple[Any, str]:
    """Drive one run with the SDK's polling helpers; the run and its reply."""
    runs = client.beta.threads.runs
    run = runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id)
    for _ in range(MAX_STEPS):
        if run.status != "requires_action" or run.required_action is None:
            break
        tool_outputs: list[ToolOutput] = []
        for tool_call in run.required_action.submit_tool_outputs.tool_calls:
            function = tool_call.function
            result = call(account, function.name, json.loads(function.arguments))
            tool_outputs.append({"tool_call_id": tool_call.id, "output": json.dumps(result)})
        run = runs.submit_tool_outputs_and_poll(
            thread_id=thread_id, run_id=run.id, tool_outputs=tool_outputs
        )
    messages = client.beta.threads.messages.list(thread_id=thread_id, run_id=run.id)
    text = "\n".join(
        part.text.value
        for message in messages.data
        if message.role == "assistant"
        for part in message.content
        if part.type == "text"
    )
    return run, text
