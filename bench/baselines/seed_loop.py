"""The seed examples' loop, made to run against the sandbox.

What the published examples teach: a raw HTTP wrapper for MultiMail (``call_multimail``,
one request per call on a fresh connection, as ``requests.post`` makes), the run's tool
calls carried out one after the other, and the run looked at every second with
``time.sleep(1)``. Only the endpoint table is corrected to MultiMail's real paths, and the
loop is bounded. Nothing here uses mm_assistants.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
from openai.types.beta.threads.run_submit_tool_outputs_params import ToolOutput

from bench.baselines import Account

POLL_SECONDS = 1.0
MAX_POLLS = 120

ENDPOINTS = {
    "check_inbox": ("GET", "/v1/mailboxes/{mailbox_id}/emails"),
    "read_email": ("GET", "/v1/mailboxes/{mailbox_id}/emails/{email_id}"),
    "list_mailboxes": ("GET", "/v1/mailboxes"),
    "send_email": ("POST", "/v1/mailboxes/{mailbox_id}/send"),
}


def call_multimail(account: Account, tool_name: str, args: dict[str, Any]) -> Any:
    """Forward one tool call to MultiMail and return its JSON answer."""
    method, template = ENDPOINTS[tool_name]
    args = dict(args)
    url = account.base_url + template.format(
        mailbox_id=account.mailbox_id, email_id=args.pop("email_id", "")
    )
    headers = {"Authorization": f"Bearer {account.api_key}"}
    if method == "GET":
        resp = httpx.get(url, params=args, headers=headers, timeout=30)
    else:
        resp = httpx.post(url, json=args, headers=headers, timeout=30)
    resp.raise_for_status()
    return resp.json()


def run_until_complete(
    client: openai.OpenAI, account: Account, thread_id: str, assistant_id: str
) -> tuple[Any, str]:
    """Create a run, poll it every second, answer its tool calls; the run and its reply."""
    run = client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id)
    polls = 0
    while run.status in ("queued", "in_progress", "requires_action") and polls < MAX_POLLS:
        time.sleep(POLL_SECONDS)
        polls += 1
        run = client.beta.threads.runs.retrieve(thread_id=thread_id, run_id=run.id)
        if run.status == "requires_action" and run.required_action is not None:
            tool_outputs: list[ToolOutput] = []
            for call in run.required_action.submit_tool_outputs.tool_calls:
                args = json.loads(call.function.arguments)
                result = call_multimail(account, call.function.name, args)
                tool_outputs.append({"tool_call_id": call.id, "output": json.dumps(result)})
            run = client.beta.threads.runs.submit_tool_outputs(
                thread_id=thread_id, run_id=run.id, tool_outputs=tool_outputs
            )
    messages = client.beta.threads.messages.list(thread_id=thread_id, run_id=run.id)
    return run, _text(messages.data)


def _text(messages: list[Any]) -> str:
    return "\n".join(
        part.text.value
        for message in messages
        if message.role == "assistant"
        for part in message.content
        if part.type == "text"
    )
