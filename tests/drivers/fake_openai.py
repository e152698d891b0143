"""A small in-process Assistants + Responses server for driver unit tests.

It answers the openai SDK through an ``httpx2.MockTransport``: runs follow a script of
steps (tool calls to ask for, then a final message), enforce the all-outputs-in-one-submit
and expiry rules, honour cancel, send ``openai-poll-after-ms``, and speak SSE when asked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

Step = list[tuple[str, dict[str, Any]]] | str  # tool calls to request, or the final text


@dataclass
class FakeRun:
    id: str
    thread_id: str
    assistant_id: str
    script: list[Step]
    created_at: int
    expires_at: int
    status: str = "queued"
    step: int = 0
    pending: list[str] = field(default_factory=list)
    outputs: list[list[dict[str, str]]] = field(default_factory=list)
    polls_before_ready: int = 0
    message: str | None = None
    last_error: dict[str, str] | None = None

    def view(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "thread.run",
            "assistant_id": self.assistant_id,
            "thread_id": self.thread_id,
            "status": self.status,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "instructions": "",
            "model": "fake",
            "tools": [],
            "parallel_tool_calls": True,
            "last_error": self.last_error,
            "incomplete_details": {"reason": "max_prompt_tokens"}
            if self.status == "incomplete"
            else None,
        }
        if self.status == "requires_action":
            calls = self.script[self.step]
            assert not isinstance(calls, str)
            body["required_action"] = {
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(args)},
                        }
                        for call_id, (name, args) in zip(self.pending, calls, strict=False)
                    ]
                },
            }
        return body


class FakeOpenAI:
    """The fake server; ``client()`` and ``async_client()`` return SDK clients bound to it."""

    def __init__(self, script: list[Step], *, now: Callable[[], float], expiry: int = 600) -> None:
        self.script = script
        self.now = now
        self.expiry = expiry
        self.runs: dict[str, FakeRun] = {}
        self.poll_after_ms: str | None = None
        self.working_polls = 1  # retrieves answered "in_progress" before a step is ready
        self.requests: list[tuple[str, str]] = []
        self.final_status = "completed"
        self.open_calls: dict[str, list[str]] = {}

    # -- SDK clients --------------------------------------------------------------------

    def client(self) -> openai.OpenAI:
        http = httpx2.Client(transport=httpx2.MockTransport(self.handle))
        return openai.OpenAI(
            api_key="sk-fake", base_url="https://fake.test/v1", http_client=http, max_retries=0
        )

    def async_client(self) -> openai.AsyncOpenAI:
        async def handle(request: httpx2.Request) -> httpx2.Response:
            return self.handle(request)

        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handle))
        return openai.AsyncOpenAI(
            api_key="sk-fake", base_url="https://fake.test/v1", http_client=http, max_retries=0
        )

    # -- the server ---------------------------------------------------------------------

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.removeprefix("/v1")
        body = json.loads(request.content) if request.content else {}
        self.requests.append((request.method, path))
        routes = [
            ("POST", r"/threads/(\w+)/runs", self._create),
            ("POST", r"/threads/runs", self._create_thread_and_run),
            ("GET", r"/threads/(\w+)/runs/(\w+)", self._retrieve),
            ("POST", r"/threads/(\w+)/runs/(\w+)/submit_tool_outputs", self._submit),
            ("POST", r"/threads/(\w+)/runs/(\w+)/cancel", self._cancel),
            ("GET", r"/threads/(\w+)/messages", self._messages),
            ("POST", r"/threads/(\w+)/messages", self._post_message),
            ("POST", r"/responses", self._responses),
            ("POST", r"/chat/completions", self._chat),
        ]
        for method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                return handler(body, request, *match.groups())
        return httpx2.Response(404, json={"error": {"message": f"no route {path}"}})

    def _answer(self, run: FakeRun, streaming: bool) -> httpx2.Response:
        if not streaming:
            headers = {"openai-poll-after-ms": self.poll_after_ms} if self.poll_after_ms else {}
            return httpx2.Response(200, json=run.view(), headers=headers)
        self._advance(run, force=True)
        events = [("thread.run.created", run.view())]
        if run.message is not None and run.status == "completed":
            events.append(("thread.message.completed", self._message(run)))
        events.append((f"thread.run.{run.status}", run.view()))
        text = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
        text += "event: done\ndata: [DONE]\n\n"
        return httpx2.Response(200, text=text, headers={"content-type": "text/event-stream"})

    def _create(self, body: dict[str, Any], request: Any, thread_id: str) -> httpx2.Response:
        number = len(self.runs) + 1
        run = FakeRun(
            id=f"run_{number}",
            thread_id=thread_id,
            assistant_id=body["assistant_id"],
            script=list(self.script),
            created_at=int(self.now()),
            expires_at=int(self.now()) + self.expiry,
        )
        self.runs[run.id] = run
        return self._answer(run, bool(body.get("stream")))

    def _create_thread_and_run(self, body: dict[str, Any], request: Any) -> httpx2.Response:
        return self._create(body, request, f"thread_{len(self.runs) + 1}")

    def _retrieve(self, body: Any, request: Any, thread_id: str, run_id: str) -> httpx2.Response:
        run = self.runs[run_id]
        self._advance(run)
        return self._answer(run, False)

    def _advance(self, run: FakeRun, force: bool = False) -> None:
        if (
            run.status in ("queued", "in_progress", "requires_action")
            and self.now() >= run.expires_at
        ):
            run.status = "expired"
            return
        if run.status == "cancelling":
            run.status = "cancelled"
            return
        if run.status not in ("queued", "in_progress"):
            return
        if not force and run.polls_before_ready < self.working_polls:
            run.polls_before_ready += 1
            run.status = "in_progress"
            return
        run.polls_before_ready = 0
        step = run.script[run.step]
        if isinstance(step, str):
            run.message = step
            run.status = self.final_status
            if run.status == "failed":
                run.last_error = {"code": "server_error", "message": "boom"}
        else:
            run.status = "requires_action"
            run.pending = [f"call_{run.id}_{run.step}_{i}" for i in range(len(step))]

    def _submit(
        self, body: dict[str, Any], request: Any, thread_id: str, run_id: str
    ) -> httpx2.Response:
        run = self.runs[run_id]
        self._advance(run)
        if run.status != "requires_action":
            return self._error(f'Runs in status "{run.status}" do not accept tool outputs.')
        given = [item["tool_call_id"] for item in body["tool_outputs"]]
        if sorted(given) != sorted(run.pending):
            return self._error(f"Expected tool outputs for call_ids {run.pending}, got {given}")
        run.outputs.append(body["tool_outputs"])
        run.step += 1
        run.status = "queued"
        return self._answer(run, bool(body.get("stream")))

    def _cancel(self, body: Any, request: Any, thread_id: str, run_id: str) -> httpx2.Response:
        run = self.runs[run_id]
        if run.status in ("completed", "failed", "cancelled", "expired"):
            return self._error(f"Cannot cancel run with status '{run.status}'.")
        run.status = "cancelling"
        return self._answer(run, False)

    def _message(self, run: FakeRun) -> dict[str, Any]:
        return {
            "id": f"msg_{run.id}",
            "object": "thread.message",
            "created_at": run.created_at,
            "thread_id": run.thread_id,
            "run_id": run.id,
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "text", "text": {"value": run.message, "annotations": []}}],
            "attachments": [],
            "metadata": {},
        }

    def _messages(self, body: Any, request: Any, thread_id: str) -> httpx2.Response:
        run_id = request.url.params.get("run_id")
        data = [
            self._message(r)
            for r in self.runs.values()
            if r.thread_id == thread_id and r.message and r.id == run_id
        ]
        return httpx2.Response(200, json={"object": "list", "data": data, "has_more": False})

    def _post_message(self, body: dict[str, Any], request: Any, thread_id: str) -> httpx2.Response:
        self.posted = [*getattr(self, "posted", []), (thread_id, body["content"])]
        message = {
            **self._message(next(iter(self.runs.values()))),
            "role": "user",
            "thread_id": thread_id,
        }
        return httpx2.Response(200, json=message)

    def _responses(self, body: dict[str, Any], request: Any) -> httpx2.Response:
        given = [
            i["call_id"]
            for i in body.get("input", [])
            if isinstance(i, dict) and i.get("type") == "function_call_output"
        ]
        expected = self.open_calls.get(body.get("previous_response_id") or "", [])
        if sorted(expected) != sorted(given):
            return self._error(
                f"No tool output found for function call {sorted(set(expected) - set(given))}."
            )
        self.turn = getattr(self, "turn", -1) + 1
        step = self.script[self.turn]
        response_id = f"resp_{self.turn}"
        output: list[dict[str, Any]] = []
        if isinstance(step, str):
            output.append(
                {
                    "type": "message",
                    "id": f"msg_{self.turn}",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": step, "annotations": []}],
                }
            )
        else:
            calls = [f"fc_{self.turn}_{i}" for i in range(len(step))]
            self.open_calls[response_id] = calls
            output += [
                {
                    "type": "function_call",
                    "id": f"item_{c}",
                    "call_id": c,
                    "name": name,
                    "arguments": json.dumps(args),
                    "status": "completed",
                }
                for c, (name, args) in zip(calls, step, strict=True)
            ]
        return httpx2.Response(
            200,
            json={
                "id": response_id,
                "object": "response",
                "created_at": 1,
                "model": body["model"],
                "status": self.final_status if isinstance(step, str) else "completed",
                "output": output,
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
            },
        )

    def _chat(self, body: dict[str, Any], request: Any) -> httpx2.Response:
        self.turn = getattr(self, "turn", -1) + 1
        step = self.script[self.turn]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": step if isinstance(step, str) else None,
        }
        if not isinstance(step, str):
            message["tool_calls"] = [
                {
                    "id": f"cc_{self.turn}_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(step)
            ]
        return httpx2.Response(
            200,
            json={
                "id": "chat_1",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            },
        )

    @staticmethod
    def _error(message: str) -> httpx2.Response:
        return httpx2.Response(
            400,
            json={
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        )
