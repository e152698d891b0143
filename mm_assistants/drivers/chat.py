"""`chat_tool_loop`: the Responses drivers' tool loop for Chat Completions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import openai

from mm_assistants import _validate
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import Dispatcher, calls_from_chat_message
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.responses_core import DEFAULT_MAX_TURNS, loop_ended, out_of_turns
from mm_assistants.drivers.seams import require_parts


def chat_tool_loop(
    openai_client: openai.OpenAI,
    dispatcher: Dispatcher,
    *,
    model: str,
    messages: Iterable[Any],
    tools: list[Any] | None = None,
    approvals: ApprovalPolicy | None = None,
    max_turns: int = DEFAULT_MAX_TURNS,
    clock: Callable[[], float] = time.time,
    **params: Any,
) -> RunOutcome:
    """The same loop for Chat Completions: tool messages follow each assistant message.

    Blocking, like `ResponsesDriver` (an ``AsyncOpenAI`` client or an `AsyncDispatcher` is
    a `TypeError`); ``clock`` measures ``outcome.duration``. ``outcome.messages`` holds the
    model's final message (``outcome.run`` the last completion).
    """
    require_parts("chat_tool_loop", openai_client, dispatcher, asynchronous=False)
    _validate.whole("chat_tool_loop", "max_turns", max_turns, minimum=1)
    started = clock()
    history = list(messages)
    tools = tools if tools is not None else dispatcher.tool_definitions("chat")
    policy = approvals if approvals is not None else ApprovalPolicy()
    outcome = RunOutcome(status="in_progress")
    completion: Any = None
    for _ in range(max_turns):
        completion = openai_client.chat.completions.create(
            model=model, messages=history, tools=tools, **params
        )
        outcome.openai_requests += 1
        message = completion.choices[0].message
        history.append(message.model_dump(exclude_none=True))
        calls = calls_from_chat_message(message)
        if not calls:
            return loop_ended(outcome, completion, "completed", message.content, clock() - started)
        results = dispatcher.dispatch_many(calls, approvals=policy)
        outcome.tool_results.extend(results)
        outcome.steps += 1
        history.extend(result.to_chat() for result in results)
    return out_of_turns(outcome, completion, clock() - started)
