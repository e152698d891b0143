"""What the v2-only end-to-end tests share: a v2 dispatcher on any sandbox key and tool
set, an OpenAI client that keeps every request body it sends (to prove a secret never
reached the model), and one-call helpers to run a scripted assistant."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import openai
import pytest

from mm_assistants.dispatch import Dispatcher
from mm_assistants.drivers import AssistantsRunDriver, RunOutcome
from mm_assistants.multimail import MultiMailClient
from mm_assistants.openai_setup import create_assistant
from mm_assistants.sandbox import Sandbox
from mm_assistants.tools import load_registry
from tests.e2e.conftest import FAST_APPROVALS, FAST_RETRY, submitted_outputs

V2 = load_registry("v2")


class RecordingOpenAI:
    """A real ``openai.OpenAI`` client on the emulator whose transport keeps the body of
    every request it sends: `sent_text` is everything the model's side ever received."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.bodies: list[bytes] = []
        self._http = httpx.Client(event_hooks={"request": [self._keep]}, timeout=10)
        self.client = openai.OpenAI(
            api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0, http_client=self._http
        )

    def _keep(self, request: httpx.Request) -> None:
        self.bodies.append(request.read())

    def sent_text(self) -> str:
        """Every request body sent so far, decoded (JSON escapes undone where it parses)."""
        texts = []
        for body in self.bodies:
            text = body.decode("utf-8", "replace")
            # a value inside JSON may be escaped; compare what it decodes to as well
            with contextlib.suppress(ValueError):
                texts.append(json.dumps(json.loads(text), ensure_ascii=False))
            texts.append(text)
        return "\n".join(texts)

    def close(self) -> None:
        self.client.close()
        self._http.close()


class Session:
    """Assistants, dispatchers and runs for one test; everything closed at the end."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._stack = ExitStack()
        self.openai = RecordingOpenAI(sandbox)
        self._stack.callback(self.openai.close)

    def dispatcher(self, key: str, **options: Any) -> Dispatcher:
        """A v2 `Dispatcher` on the seeded key of that scope (or a raw key)."""
        client = self._stack.enter_context(
            MultiMailClient(
                api_key=self.sandbox.keys.get(key, key),
                base_url=self.sandbox.multimail_url,
                retry=FAST_RETRY,
            )
        )
        options.setdefault("mailbox_id", self.sandbox.mailbox_id)
        return Dispatcher(client, registry=V2, audit=None, **options)

    def assistant(self, script: str, turns: list[dict[str, Any]], **options: Any) -> str:
        """Register ``turns`` as ``script`` and create a v2 assistant that follows it
        (``profile``/``tools``/``mailbox_id`` as `create_assistant` takes them)."""
        self.sandbox.openai.register_script(script, turns)
        options.setdefault("mailbox_id", self.sandbox.mailbox_id)
        made = create_assistant(
            self.openai.client, model=f"scripted:{script}", version="v2", **options
        )
        return str(made.id)

    def run(self, dispatcher: Dispatcher, assistant: str, ask: str) -> RunOutcome:
        """A new thread with ``ask``, driven to its end."""
        driver = AssistantsRunDriver(self.openai.client, dispatcher, approvals=FAST_APPROVALS)
        outcome = driver.create_thread_and_run(assistant, [ask])
        assert outcome.status == "completed", outcome.as_dict()
        return outcome

    def tell(self, dispatcher: Dispatcher, assistant: str, thread_id: str, text: str) -> RunOutcome:
        """Post ``text`` on an existing thread and run it to its end."""
        self.openai.client.beta.threads.messages.create(thread_id, role="user", content=text)
        driver = AssistantsRunDriver(self.openai.client, dispatcher, approvals=FAST_APPROVALS)
        outcome = driver.run(thread_id, assistant)
        assert outcome.status == "completed", outcome.as_dict()
        return outcome

    def outputs(self, outcome: RunOutcome) -> list[Any]:
        """The outputs the model was given in that run, one per call, in order."""
        assert outcome.thread_id is not None
        assert outcome.run_id is not None
        steps = submitted_outputs(self.openai.client, outcome.thread_id, outcome.run_id)
        return [output for step in steps for output in step]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(name="session")
def session_fixture(sandbox: Sandbox) -> Iterator[Session]:
    """A `Session` on the test's sandbox (modules import this to use ``session``)."""
    made = Session(sandbox)
    yield made
    made.close()


def mailbox_api(sandbox: Sandbox, key: str) -> httpx.Client:
    """A plain HTTP client of the MultiMail half on a seeded key (the operator's look)."""
    return httpx.Client(
        base_url=sandbox.multimail_url,
        headers={"Authorization": f"Bearer {sandbox.keys.get(key, key)}"},
        timeout=5,
    )
