"""The Assistants requests a driver makes, with their response headers and a count.

Each call goes through the SDK's own (deprecated) Assistants methods, unwrapped by
`call_assistants` so the per-call deprecation warnings do not flood the user, and asks for
the raw response so the ``openai-poll-after-ms`` header of *every* response is seen.
`AssistantsAPI` and `AsyncAssistantsAPI` differ only in ``await``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mm_assistants._sunset import call_assistants
from mm_assistants.drivers.assistants_start import RECENT_MESSAGES

RAW = {"X-Stainless-Raw-Response": "true"}
POLL_AFTER_HEADER = "openai-poll-after-ms"


class AssistantsAPI:
    """Blocking Assistants calls for one run; ``requests`` counts what they cost."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.requests = 0

    def _raw(self, method: Any, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
        self.requests += 1
        response = call_assistants(method, *args, extra_headers=dict(RAW), **kwargs)
        return response.parse(), response.headers.get(POLL_AFTER_HEADER)

    @property
    def _runs(self) -> Any:
        return self.client.beta.threads.runs

    def create_run(self, thread_id: str, params: Mapping[str, Any]) -> tuple[Any, str | None]:
        """Start a run on a thread: ``(run, poll-after header)``."""
        return self._raw(self._runs.create, thread_id, **params)

    def create_thread_and_run(self, params: Mapping[str, Any]) -> tuple[Any, str | None]:
        """Create a thread and start its run in one request: ``(run, poll-after header)``."""
        return self._raw(self.client.beta.threads.create_and_run, **params)

    def retrieve(self, thread_id: str, run_id: str) -> tuple[Any, str | None]:
        """The run as it is now: ``(run, poll-after header)``."""
        return self._raw(self._runs.retrieve, run_id, thread_id=thread_id)

    def submit(
        self, thread_id: str, run_id: str, outputs: list[dict[str, str]]
    ) -> tuple[Any, str | None]:
        """Hand the step's tool outputs to the run: ``(run, poll-after header)``."""
        return self._raw(
            self._runs.submit_tool_outputs, run_id, thread_id=thread_id, tool_outputs=outputs
        )

    def cancel(self, thread_id: str, run_id: str) -> tuple[Any, str | None]:
        """Ask OpenAI to cancel the run: ``(run, poll-after header)``."""
        return self._raw(self._runs.cancel, run_id, thread_id=thread_id)

    def stream_run(self, thread_id: str, params: Mapping[str, Any]) -> Iterable[Any]:
        """Start a run on a thread as an event stream."""
        self.requests += 1
        return call_assistants(self._runs.create, thread_id, stream=True, **params)

    def stream_submit(
        self, thread_id: str, run_id: str, outputs: list[dict[str, str]]
    ) -> Iterable[Any]:
        """Hand the step's tool outputs to the run and stream what follows."""
        self.requests += 1
        return call_assistants(
            self._runs.submit_tool_outputs,
            run_id,
            thread_id=thread_id,
            tool_outputs=outputs,
            stream=True,
        )

    def stream_thread_and_run(self, params: Mapping[str, Any]) -> Iterable[Any]:
        """Create a thread and stream its run."""
        self.requests += 1
        return call_assistants(self.client.beta.threads.create_and_run, stream=True, **params)

    def new_messages(self, thread_id: str, run_id: str) -> list[Any]:
        """The assistant's messages of one run, oldest first."""
        page, _ = self._raw(
            self.client.beta.threads.messages.list, thread_id, run_id=run_id, order="asc"
        )
        return [m for m in page.data if getattr(m, "role", None) == "assistant"]

    def recent_messages(self, thread_id: str) -> list[Any]:
        """The thread's newest messages (one page, newest first)."""
        page, _ = self._raw(
            self.client.beta.threads.messages.list,
            thread_id,
            order="desc",
            limit=RECENT_MESSAGES,
        )
        return list(page.data)

    def latest_run(self, thread_id: str) -> Any:
        """The thread's newest run, or ``None`` when it has none."""
        page, _ = self._raw(self._runs.list, thread_id, order="desc", limit=1)
        return page.data[0] if page.data else None

    def post_message(self, thread_id: str, content: str) -> Any:
        """Add a user message to a thread; the created message."""
        message, _ = self._raw(
            self.client.beta.threads.messages.create, thread_id, role="user", content=content
        )
        return message

    def create_thread(self, contents: list[str], metadata: Mapping[str, str]) -> Any:
        """A new thread holding ``contents`` as user messages, with ``metadata``."""
        thread, _ = self._raw(
            self.client.beta.threads.create,
            messages=[{"role": "user", "content": text} for text in contents],
            metadata=dict(metadata),
        )
        return thread


class AsyncAssistantsAPI:
    """`AssistantsAPI` for an ``AsyncOpenAI`` client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.requests = 0

    async def _raw(self, method: Any, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
        self.requests += 1
        response = await call_assistants(method, *args, extra_headers=dict(RAW), **kwargs)
        return response.parse(), response.headers.get(POLL_AFTER_HEADER)

    @property
    def _runs(self) -> Any:
        return self.client.beta.threads.runs

    async def create_run(self, thread_id: str, params: Mapping[str, Any]) -> tuple[Any, str | None]:
        """`AssistantsAPI.create_run`, awaited."""
        return await self._raw(self._runs.create, thread_id, **params)

    async def create_thread_and_run(self, params: Mapping[str, Any]) -> tuple[Any, str | None]:
        """`AssistantsAPI.create_thread_and_run`, awaited."""
        return await self._raw(self.client.beta.threads.create_and_run, **params)

    async def retrieve(self, thread_id: str, run_id: str) -> tuple[Any, str | None]:
        """`AssistantsAPI.retrieve`, awaited."""
        return await self._raw(self._runs.retrieve, run_id, thread_id=thread_id)

    async def submit(
        self, thread_id: str, run_id: str, outputs: list[dict[str, str]]
    ) -> tuple[Any, str | None]:
        """`AssistantsAPI.submit`, awaited."""
        return await self._raw(
            self._runs.submit_tool_outputs, run_id, thread_id=thread_id, tool_outputs=outputs
        )

    async def cancel(self, thread_id: str, run_id: str) -> tuple[Any, str | None]:
        """`AssistantsAPI.cancel`, awaited."""
        return await self._raw(self._runs.cancel, run_id, thread_id=thread_id)

    async def stream_run(self, thread_id: str, params: Mapping[str, Any]) -> Any:
        """`AssistantsAPI.stream_run`, awaited."""
        self.requests += 1
        return await call_assistants(self._runs.create, thread_id, stream=True, **params)

    async def stream_submit(
        self, thread_id: str, run_id: str, outputs: list[dict[str, str]]
    ) -> Any:
        """`AssistantsAPI.stream_submit`, awaited."""
        self.requests += 1
        return await call_assistants(
            self._runs.submit_tool_outputs,
            run_id,
            thread_id=thread_id,
            tool_outputs=outputs,
            stream=True,
        )

    async def stream_thread_and_run(self, params: Mapping[str, Any]) -> Any:
        """`AssistantsAPI.stream_thread_and_run`, awaited."""
        self.requests += 1
        return await call_assistants(self.client.beta.threads.create_and_run, stream=True, **params)

    async def new_messages(self, thread_id: str, run_id: str) -> list[Any]:
        """`AssistantsAPI.new_messages`, awaited."""
        page, _ = await self._raw(
            self.client.beta.threads.messages.list, thread_id, run_id=run_id, order="asc"
        )
        return [m for m in page.data if getattr(m, "role", None) == "assistant"]

    async def recent_messages(self, thread_id: str) -> list[Any]:
        """`AssistantsAPI.recent_messages`, awaited."""
        page, _ = await self._raw(
            self.client.beta.threads.messages.list,
            thread_id,
            order="desc",
            limit=RECENT_MESSAGES,
        )
        return list(page.data)

    async def latest_run(self, thread_id: str) -> Any:
        """`AssistantsAPI.latest_run`, awaited."""
        page, _ = await self._raw(self._runs.list, thread_id, order="desc", limit=1)
        return page.data[0] if page.data else None

    async def post_message(self, thread_id: str, content: str) -> Any:
        """`AssistantsAPI.post_message`, awaited."""
        message, _ = await self._raw(
            self.client.beta.threads.messages.create, thread_id, role="user", content=content
        )
        return message

    async def create_thread(self, contents: list[str], metadata: Mapping[str, str]) -> Any:
        """`AssistantsAPI.create_thread`, awaited."""
        thread, _ = await self._raw(
            self.client.beta.threads.create,
            messages=[{"role": "user", "content": text} for text in contents],
            metadata=dict(metadata),
        )
        return thread
