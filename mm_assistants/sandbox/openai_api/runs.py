"""The Assistants run lifecycle, computed lazily from the clock.

Nothing runs in the background: every read or write of a run first *settles* it, i.e.
replays what would have happened between its last change and now:

- a run waits ``model_latency`` seconds after it was created or given outputs (``queued``,
  then ``in_progress`` when read meanwhile), then the scripted model takes its turn
  (`turns.take_turn`): ``requires_action``, ``completed``, ``failed`` or ``incomplete``;
- a run still ``queued``/``in_progress``/``requires_action`` at ``expires_at`` is
  ``expired``; a model turn due before ``expires_at`` is taken first, as it would have been;
- ``cancelling`` becomes ``cancelled`` after the same latency.

So a test shifts its clock instead of sleeping. Each operation returns the stream events
of what it changed, which the SSE routes send. Errors carry OpenAI's texts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mm_assistants.sandbox.openai_api import objects, validation
from mm_assistants.sandbox.openai_api.errors import bad_request, invalid_type, missing, not_found
from mm_assistants.sandbox.openai_api.model import Progress, script_name
from mm_assistants.sandbox.openai_api.settings import LiveSettings
from mm_assistants.sandbox.openai_api.store import Doc, Store, public
from mm_assistants.sandbox.openai_api.turns import Event, take_turn

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
STREAM_ENDS = ("requires_action", "completed", "failed", "cancelled", "expired", "incomplete")
_SETTLE_PASSES = 4  # a settle crosses at most: turn taken, then expiry; a bound, not a loop


class RunEngine:
    """Creates, settles, answers and cancels runs; all methods are thread-safe."""

    def __init__(self, store: Store, clock: Callable[[], float], live: LiveSettings) -> None:
        self.store = store
        self.clock = clock
        self.live = live

    # -- reading ------------------------------------------------------------------------

    def get(self, thread_id: str, run_id: str, *, force: bool = False) -> tuple[Doc, list[Event]]:
        """The settled run and the events of settling it; ``force`` takes a due model turn
        now even if the clock has not reached it (streams wait in real time instead)."""
        with self.store.transaction():
            run = self._load(thread_id, run_id)
            events = self._settle(run, force=force)
            return public(run), events

    def settle_thread(self, thread_id: str) -> Doc | None:
        """Settle the thread's runs; the one still active, if any."""
        with self.store.transaction():
            active = None
            for run in self.store.children("runs", thread_id):
                if run["status"] in ACTIVE:
                    self._settle(run)
                    if run["status"] in ACTIVE:
                        active = run
            return active

    def page(self, thread_id: str, query: Mapping[str, str]) -> Doc:
        """A page of the thread's runs (newest first by default)."""
        with self.store.lock:
            self._thread(thread_id)
            self.settle_thread(thread_id)
            return objects.page(self.store.children("runs", thread_id), query)

    def seconds_until_turn(self, run_id: str) -> float:
        """How long a waiting run has before the model's turn is due (0 if due)."""
        run = self.store.get("runs", run_id) or {}
        latency = self.live.current.model_latency
        due = float(run.get("_turn_at") or 0) + latency
        return max(0.0, min(due - self.clock(), latency))

    # -- writing ------------------------------------------------------------------------

    def create(self, thread_id: str, body: Mapping[str, Any]) -> tuple[Doc, list[Event]]:
        """Start a run on a thread (400 while another run is active)."""
        with self.store.lock:  # settle first and keep it, even when the create is refused
            self._thread(thread_id)
            active = self.settle_thread(thread_id)
            if active is not None:
                raise bad_request(f"Thread {thread_id} already has an active run {active['id']}.")
            return self._create(thread_id, body)

    def _create(self, thread_id: str, body: Mapping[str, Any]) -> tuple[Doc, list[Event]]:
        with self.store.transaction():
            assistant_id = validation.required_str(body, "assistant_id")
            assistant = self.store.get("assistants", assistant_id)
            if assistant is None:
                raise not_found("assistant", assistant_id)
            run = self._new_run(thread_id, assistant, body)
            extra = body.get("additional_messages")
            extra = [] if extra is None else extra
            if not isinstance(extra, list):
                raise invalid_type("additional_messages", "an array")
            now = int(self.clock())
            for index, spec in enumerate(extra):
                doc = objects.user_message(thread_id, spec, now, f"additional_messages[{index}]")
                self.store.put("messages", doc, parent=thread_id)
            self.store.put("runs", run, parent=thread_id)
            view = public(run)
            return view, [("thread.run.created", view), ("thread.run.queued", view)]

    def submit(
        self, thread_id: str, run_id: str, body: Mapping[str, Any]
    ) -> tuple[Doc, list[Event]]:
        """Take the outputs of every pending call in one go, as OpenAI requires."""
        with self.store.lock:
            self.get(thread_id, run_id)  # settle in its own commit: an expiry stays, 400 or not
            run = self._load(thread_id, run_id)
            if run["status"] != "requires_action":
                raise bad_request(
                    f'Runs in status "{run["status"]}" do not accept tool outputs.',
                    param="tool_outputs",
                )
            outputs = _outputs(body, self.live.current.tool_outputs_limit)
            pending = [c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]]
            given = list(outputs)
            for call_id in given:
                if call_id not in pending:
                    raise bad_request(
                        f"Invalid tool_call_id: {call_id}. No pending tool call of run "
                        f"{run_id} has this id.",
                        param="tool_outputs",
                    )
            if sorted(given) != sorted(pending):
                raise bad_request(
                    f"Expected tool outputs for call_ids {pending}, got {given}",
                    param="tool_outputs",
                )
            return self._accept(run, outputs)

    def _accept(self, run: Doc, outputs: dict[str, str]) -> tuple[Doc, list[Event]]:
        with self.store.transaction():
            now = int(self.clock())
            step = self.store.get("steps", run["_step"])
            if step is None:  # a step is written with every requires_action
                raise not_found("run step", str(run["_step"]))
            for call in step["step_details"]["tool_calls"]:
                call["function"]["output"] = outputs[call["id"]]
            step.update(status="completed", completed_at=now)
            self.store.put("steps", step, parent=run["id"])
            run.update(status="queued", required_action=None, _turn_at=self.clock(), _step=None)
            self.store.put("runs", run, parent=run["thread_id"])
            view = public(run)
            return view, [("thread.run.step.completed", public(step)), ("thread.run.queued", view)]

    def cancel(self, thread_id: str, run_id: str) -> Doc:
        """Ask a run to stop: ``cancelling`` now, ``cancelled`` on a later read."""
        with self.store.lock:
            self.get(thread_id, run_id)
            run = self._load(thread_id, run_id)
            if run["status"] not in ("queued", "in_progress", "requires_action"):
                raise bad_request(f"Cannot cancel run with status '{run['status']}'.")
            run.update(status="cancelling", _cancel_at=self.clock())
            self.store.put("runs", run, parent=thread_id)
            return public(run)

    # -- the lifecycle ------------------------------------------------------------------

    def _settle(self, run: Doc, *, force: bool = False) -> list[Event]:
        settings = self.live.current
        events: list[Event] = []
        now = self.clock()
        for _ in range(_SETTLE_PASSES):
            status = run["status"]
            if status == "cancelling":
                if force or now >= float(run["_cancel_at"]) + settings.model_latency:
                    events += self._finish(run, "cancelled", int(now))
                break
            if status == "requires_action" and now >= run["expires_at"]:
                events += self._finish(run, "expired", int(now))
                break
            if status not in ("queued", "in_progress"):
                break
            due = float(run["_turn_at"]) + settings.model_latency
            if due >= run["expires_at"] and now >= run["expires_at"]:
                events += self._finish(run, "expired", int(now))
                break
            if not force and now < due:
                if status == "queued":
                    run.update(status="in_progress", started_at=run["started_at"] or int(now))
                    events.append(("thread.run.in_progress", public(run)))
                break
            script = self.live.script(str(run["_script"]))
            events += take_turn(self.store, run, script, settings, int(min(now, due)))
        if events:
            self.store.put("runs", run, parent=run["thread_id"])
        return events

    def _finish(self, run: Doc, status: str, now: int) -> list[Event]:
        events: list[Event] = []
        step = self.store.get("steps", run["_step"]) if run.get("_step") else None
        if step is not None and step["status"] == "in_progress":
            when = "expired_at" if status == "expired" else "cancelled_at"
            step.update({"status": status, when: now})
            self.store.put("steps", step, parent=run["id"])
            events.append((f"thread.run.step.{status}", public(step)))
        run.update(status=status, required_action=None, _step=None)
        if status == "cancelled":
            run["cancelled_at"] = now
        events.append((f"thread.run.{status}", public(run)))
        return events

    def _new_run(self, thread_id: str, assistant: Doc, body: Mapping[str, Any]) -> Doc:
        settings = self.live.current
        now = self.clock()
        tools = body.get("tools")
        tools = validation.tools(tools) if tools is not None else assistant["tools"]
        metadata = validation.metadata(body.get("metadata"))
        instructions = body.get("instructions")
        if instructions is None:
            instructions = assistant.get("instructions") or ""
        if body.get("additional_instructions"):
            instructions = f"{instructions}\n\n{body['additional_instructions']}".strip()
        model = body.get("model") or assistant["model"]
        name = script_name([metadata, assistant.get("metadata")], [model], settings.default_script)
        if self.live.script(name) is None:
            raise bad_request(
                f"Unknown script '{name}'. Known scripts: {self.live.script_names()}.",
                param="metadata",
            )
        return {
            "id": objects.new_id("run_"),
            "object": "thread.run",
            "created_at": int(now),
            "assistant_id": assistant["id"],
            "thread_id": thread_id,
            "status": "queued",
            "started_at": None,
            "expires_at": int(now) + settings.run_expiry_seconds,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "last_error": None,
            "incomplete_details": None,
            "required_action": None,
            "model": model,
            "instructions": instructions,
            "tools": tools,
            "metadata": metadata,
            "parallel_tool_calls": validation.optional_bool(body, "parallel_tool_calls", True),
            "temperature": body.get("temperature", assistant.get("temperature")),
            "top_p": body.get("top_p", assistant.get("top_p")),
            "tool_choice": body.get("tool_choice") or "auto",
            "response_format": body.get("response_format", assistant.get("response_format")),
            "truncation_strategy": body.get("truncation_strategy")
            or {"type": "auto", "last_messages": None},
            "max_prompt_tokens": body.get("max_prompt_tokens"),
            "max_completion_tokens": body.get("max_completion_tokens"),
            "usage": None,
            "_turn_at": now,
            "_script": name,
            "_progress": Progress().dump(),
            "_turns": 0,
            "_step": None,
            "_cancel_at": None,
        }

    def _thread(self, thread_id: str) -> Doc:
        thread = self.store.get("threads", thread_id)
        if thread is None:
            raise not_found("thread", thread_id)
        return thread

    def _load(self, thread_id: str, run_id: str) -> Doc:
        run = self.store.get("runs", run_id)
        if run is None or run["thread_id"] != thread_id:
            raise not_found("run", run_id)
        return run


def _outputs(body: Mapping[str, Any], limit: int) -> dict[str, str]:
    """The submitted outputs by call id, checked for shape, duplicates and total size."""
    items = body.get("tool_outputs")
    if items is None:
        raise missing("tool_outputs")
    if not isinstance(items, list):
        raise invalid_type("tool_outputs", "an array")
    outputs: dict[str, str] = {}
    size = 0
    for index, item in enumerate(items):
        call_id = item.get("tool_call_id") if isinstance(item, dict) else None
        if not isinstance(call_id, str):
            raise missing(f"tool_outputs[{index}].tool_call_id")
        output = item.get("output", "")
        if not isinstance(output, str):
            raise invalid_type(f"tool_outputs[{index}].output", "a string")
        if call_id in outputs:
            raise bad_request(
                f"Duplicate tool_call_id '{call_id}' in tool_outputs.", param="tool_outputs"
            )
        outputs[call_id] = output
        size += len(output.encode("utf-8"))
    if size > limit:
        raise bad_request(
            f"Invalid 'tool_outputs': the outputs total {size} bytes, more than the "
            f"{limit // 1024} KB allowed in one submission.",
            param="tool_outputs",
            code="string_above_max_length",
        )
    return outputs
