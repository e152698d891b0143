"""`ResponsesDriver` / `AsyncResponsesDriver`, and `chat_tool_loop` for Chat Completions.

The Responses API is OpenAI's recommended path since the Assistants API shut down. The
application owns the loop: create a response, carry out its function calls (concurrently,
approval waits included), send every ``function_call_output`` in the next request, and
repeat until the model answers without calls.

Example::

    driver = ResponsesDriver(OpenAI(), Dispatcher(MultiMailClient(...), mailbox_id="mbx_1"))
    outcome = driver.run("Answer the newest email in my inbox", model="gpt-4.1")
    print(outcome.text)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import openai

from mm_assistants import _validate
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import (
    AsyncDispatcher,
    Dispatcher,
    calls_from_chat_message,
    calls_from_response,
)
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.responses_core import (
    DEFAULT_MAX_TURNS,
    STOP_STATUSES,
    ResponsesDriverCore,
    loop_ended,
    out_of_turns,
)
from mm_assistants.drivers.seams import require_parts


class ResponsesDriver(ResponsesDriverCore[openai.OpenAI, Dispatcher]):
    """Runs the Responses tool loop with a blocking ``OpenAI`` client and a `Dispatcher` (an
    ``AsyncOpenAI`` client or an `AsyncDispatcher` is a `TypeError`)."""

    twin = "AsyncResponsesDriver under asyncio"

    def run(
        self,
        input: Any,
        *,
        model: str,
        instructions: str | None = None,
        tools: list[Any] | None = None,
        previous_response_id: str | None = None,
        conversation: Any = None,
        **params: Any,
    ) -> RunOutcome:
        """Loop until the model answers without function calls (or ``max_turns``)."""
        started = self._clock()
        deadline = self.deadline_at(started)
        request = self.first_request(
            input, model, instructions, tools, previous_response_id, conversation, params
        )
        outcome = RunOutcome(status="in_progress")
        for _ in range(self.max_turns):
            response = self.openai.responses.create(**request)
            outcome.openai_requests += 1
            calls = calls_from_response(response, deadline=deadline)
            if not calls or getattr(response, "status", None) in STOP_STATUSES:
                return self.finished(outcome, response, started)
            results = self.dispatcher.dispatch_many(calls, approvals=self.approvals)
            outcome.tool_results.extend(results)
            outcome.steps += 1
            request = self.follow_up(request, response, [r.to_responses() for r in results])
        return self.out_of_turns(outcome, response, started)


class AsyncResponsesDriver(ResponsesDriverCore[openai.AsyncOpenAI, AsyncDispatcher]):
    """`ResponsesDriver` for ``AsyncOpenAI`` and an `AsyncDispatcher`."""

    asynchronous = True
    twin = "ResponsesDriver in blocking code"

    async def run(
        self,
        input: Any,
        *,
        model: str,
        instructions: str | None = None,
        tools: list[Any] | None = None,
        previous_response_id: str | None = None,
        conversation: Any = None,
        **params: Any,
    ) -> RunOutcome:
        """Loop until the model answers without function calls (or ``max_turns``)."""
        started = self._clock()
        deadline = self.deadline_at(started)
        request = self.first_request(
            input, model, instructions, tools, previous_response_id, conversation, params
        )
        outcome = RunOutcome(status="in_progress")
        for _ in range(self.max_turns):
            response = await self.openai.responses.create(**request)
            outcome.openai_requests += 1
            calls = calls_from_response(response, deadline=deadline)
            if not calls or getattr(response, "status", None) in STOP_STATUSES:
                return self.finished(outcome, response, started)
            results = await self.dispatcher.dispatch_many(calls, approvals=self.approvals)
            outcome.tool_results.extend(results)
            outcome.steps += 1
            request = self.follow_up(request, response, [r.to_responses() for r in results])
        return self.out_of_turns(outcome, response, started)


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
