"""`AssistantsRunDriver` (and, from `drivers.assistants_async`, `AsyncAssistantsRunDriver`):
drive an Assistants run to its end.

Example::

    driver = AssistantsRunDriver(OpenAI(base_url=...), Dispatcher(MultiMailClient(...)))
    outcome = driver.run(thread_id="thread_1", assistant_id="asst_1")
    print(outcome.status, outcome.text)

Every decision is taken by `AssistantsDriverCore` and `steps.next_action`; these classes
only make the requests. All calls of a step are dispatched concurrently (approval waits
included) and their outputs submitted in one request. A submit the run no longer accepts
ends the drive with the run's real status; it is never retried.

`AssistantsRunDriver.run_messages` starts a run with its messages in the same request,
each keyed, so a retry after a crash posts none twice; a thread busy with another run has
that run driven first (`mm_assistants.drivers.assistants_start`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import openai

from mm_assistants.approvals import (
    ApprovalOutcome,
    PendingRecord,
    PendingStore,
    resolve_decision,
    resolve_pending,
)
from mm_assistants.approvals.store import claim
from mm_assistants.dispatch import Dispatcher, ToolResult
from mm_assistants.drivers.assistants_api import AssistantsAPI
from mm_assistants.drivers.assistants_async import (
    AsyncAssistantsRunDriver as AsyncAssistantsRunDriver,
)
from mm_assistants.drivers.assistants_core import (
    AssistantsDriverCore,
    RunState,
    held_record,
    late_decision_text,
    thread_params,
)
from mm_assistants.drivers.assistants_start import (
    KeyedMessage,
    Lookups,
    start_keyed,
    start_params,
)
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.steps import (
    Cancel,
    Dispatch,
    Finish,
    Poll,
    is_terminal,
    rejects_outputs,
)


class AssistantsRunDriver(AssistantsDriverCore[openai.OpenAI, Dispatcher]):
    """Drives Assistants runs with a blocking ``OpenAI`` client and a `Dispatcher` (an
    ``AsyncOpenAI`` client or an `AsyncDispatcher` is a `TypeError`).

    Options: ``mode`` (``"poll"`` or ``"stream"``), ``approvals`` (`ApprovalPolicy`),
    ``poll`` (`PollPolicy`), ``deadline`` (seconds a run may take before the driver
    cancels it), ``on_requires_action`` (``"dispatch"`` or ``"return"``).
    """

    twin = "AsyncAssistantsRunDriver under asyncio"

    def run(self, thread_id: str, assistant_id: str, **create_params: Any) -> RunOutcome:
        """Create a run on ``thread_id`` and drive it to its end. A thread busy with another
        run has that run driven to its end first (`assistants_start`)."""
        return self.run_messages(thread_id, assistant_id, (), **create_params)

    def run_messages(
        self,
        thread_id: str,
        assistant_id: str,
        messages: Sequence[KeyedMessage],
        *,
        check_posted: bool = True,
        **create_params: Any,
    ) -> RunOutcome:
        """Start a run on ``thread_id`` carrying ``messages`` as ``additional_messages``
        and drive it to its end; a message already on the thread (a retry after a crash)
        is not posted again, and when all are there the run that carried them is driven.
        ``check_posted=False`` skips that look (a thread created just now). A thread busy
        with another run has it driven first; see `mm_assistants.drivers.assistants_start`.
        """
        io = AssistantsAPI(self.openai)

        def start(pending: Sequence[KeyedMessage]) -> RunOutcome:
            params = start_params(assistant_id, create_params, pending)
            return self._start(
                thread_id,
                lambda io: io.create_run(thread_id, params),
                lambda io: io.stream_run(thread_id, params),
            )

        look = Lookups(lambda: io.recent_messages(thread_id), lambda: io.latest_run(thread_id))
        return start_keyed(
            thread_id,
            list(messages),
            check_posted=check_posted,
            look=look,
            start=start,
            attach=lambda run_id: self.attach(thread_id, run_id),
        )

    def create_thread_and_run(
        self, assistant_id: str, messages: Iterable[Any], **params: Any
    ) -> RunOutcome:
        """Create a thread with ``messages`` (strings or message dicts), run it, drive it."""
        body = thread_params(assistant_id, messages, params)
        return self._start(
            None,
            lambda io: io.create_thread_and_run(body),
            lambda io: io.stream_thread_and_run(body),
        )

    def attach(self, thread_id: str, run_id: str) -> RunOutcome:
        """Pick up a run someone else created and drive it from where it is."""
        return self._start(thread_id, lambda io: io.retrieve(thread_id, run_id), None)

    def resolve_pending(self, store: PendingStore | None = None) -> list[ApprovalOutcome]:
        """Post decisions that arrived after their run ended to the runs' threads.

        Uses the dispatcher's ``approval_store`` unless ``store`` is given. A thread that
        is busy with another run keeps its record for the next call.
        """
        chosen = store if store is not None else self.dispatcher.approval_store
        if chosen is None:
            return []
        return resolve_pending(chosen, self.dispatcher.fetch_email, self.post_late_decision)

    def resolve_decision(
        self, email_id: str, email: Mapping[str, Any], store: PendingStore | None = None
    ) -> ApprovalOutcome | None:
        """Post one decision a webhook brought (``email``: the decided email's record) to
        the thread of the run that left ``email_id`` pending; ``None`` when no record waits
        for it. A busy thread raises and keeps the record for `resolve_pending`."""
        chosen = store if store is not None else self.dispatcher.approval_store
        if chosen is None:
            return None
        return resolve_decision(chosen, email_id, email, self.post_late_decision)

    def post_late_decision(self, record: PendingRecord, outcome: ApprovalOutcome) -> None:
        """Tell the thread of ``record`` how its held email ended (one user message)."""
        if record.thread_id is not None:
            AssistantsAPI(self.openai).post_message(record.thread_id, late_decision_text(outcome))

    # -- the loop -------------------------------------------------------------------

    def _start(self, thread_id: str | None, create: Any, stream: Any) -> RunOutcome:
        io = AssistantsAPI(self.openai)
        state = self.new_state(thread_id)
        wake = threading.Event()
        state.wake = wake.set
        try:
            if self.mode == "stream" and stream is not None:
                self.absorb_events(state, stream(io))
            else:
                self.absorb(state, *create(io))
            return self._drive(io, state, wake)
        finally:
            self.forget(state)

    def _drive(self, io: AssistantsAPI, state: RunState, wake: threading.Event) -> RunOutcome:
        while True:
            action = self.next_for(state)
            if isinstance(action, Finish):
                if not state.streamed and state.run is not None:
                    state.messages = io.new_messages(state.thread_id or "", state.run.id)
                return self.outcome(state, io.requests)
            if isinstance(action, Poll):
                wake.wait(action.delay)  # a cancel() cuts the sleep short
                wake.clear()
                self.absorb(state, *io.retrieve(state.thread_id or "", state.run.id))
                state.polls += 1
            elif isinstance(action, Cancel):
                self._cancel_run(io, state)
            elif isinstance(action, Dispatch):
                self._step(io, state)

    def _step(self, io: AssistantsAPI, state: RunState) -> None:
        results = self.dispatcher.dispatch_many(self.calls_of(state), approvals=self.approvals)
        state.results.extend(results)
        state.steps += 1
        state.polls = 0
        if state.cancel_event.is_set():
            return  # cancelled meanwhile: no outputs, so the model takes no further turn
        outputs = [result.to_assistants() for result in results]
        thread_id, run_id = state.thread_id or "", state.run.id
        if self.expired(state):  # a call outlasted the run: a submit would be refused
            self.absorb(state, *io.retrieve(thread_id, run_id))
            self._post_unsubmitted(io, state, results)
            return
        self.begin_turn(state)
        try:
            if self.mode == "stream":
                self.absorb_events(state, io.stream_submit(thread_id, run_id, outputs))
            else:
                self.absorb(state, *io.submit(thread_id, run_id, outputs))
        except openai.BadRequestError as error:
            if not rejects_outputs(error):
                raise
            # The run moved on (expired, cancelled): end with its real status.
            self.absorb(state, *io.retrieve(thread_id, run_id))
            self._post_unsubmitted(io, state, results)

    def _post_unsubmitted(
        self, io: AssistantsAPI, state: RunState, results: list[ToolResult]
    ) -> None:
        """Tell the thread how the sends of a step that never reached the run ended."""
        store = self.dispatcher.approval_store
        for record, outcome in self.unsubmitted(state, results):
            if not is_terminal(state.status) or record.thread_id is None:
                continue  # the record stays for resolve_pending
            token = claim(store, record) if store is not None else None
            if store is not None and token is None:
                continue  # a resolver elsewhere is posting it
            with contextlib.suppress(openai.OpenAIError), held_record(store, record, token):
                io.post_message(record.thread_id, late_decision_text(outcome))

    def _cancel_run(self, io: AssistantsAPI, state: RunState) -> None:
        state.cancel_sent_at = self._clock()
        try:
            self.absorb(state, *io.cancel(state.thread_id or "", state.run.id))
        except openai.BadRequestError:
            self.absorb(state, *io.retrieve(state.thread_id or "", state.run.id))
