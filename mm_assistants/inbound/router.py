"""`InboundRouter` / `AsyncInboundRouter`: each inbound email becomes a turn of the OpenAI
conversation that belongs to its MultiMail thread.

Example (Assistants; the worker drives the run in the calling thread)::

    router = InboundRouter(OpenAI(), dispatcher, assistant_id="asst_1", store="routes.db")
    result = router.route(parse_event(body))   # RouteResult(action="started", outcomes=...)

With ``model=`` instead of ``assistant_id=`` the router continues a Responses chain (the
thread's last response id is remembered). With ``background=True`` `route` returns at once
and a pool the router owns drives the runs; call `close` (or use ``with``) to wait for it.

What happens to a ``message.received`` event, in order: the first screen (`routing.screen`),
the trust gate (`TrustPolicy`: an email without passing verdicts is tagged for a person
through the dispatcher and starts nothing), the flood limits (`InboundLimits`: the
background queue's bound, then per-sender and per-thread rate limits; what they turn away
is held and tagged the same way, with the reason), then `RouteStore.admit`, which drops a
delivery seen before, queues a message behind the thread's active run, or claims the thread
for a new run. The run's driver posts the message, drives the run, and posts whatever was
queued meanwhile in the next run. A run that raises gives its messages back to the queue
(`drain` retries).

Across a fleet (several workers on one PostgreSQL `RouteStore`): a thread's claim carries a
fencing token, renewed by a heartbeat every third of the store's lease while the run goes
on and passed to every later write, so a worker that stalled past its lease finds the
thread taken over and leaves it (logged with the thread id only). A Responses run that
parks (a driver with ``checkpoints=`` and ``ApprovalPolicy(park_after=...)``) keeps the
thread's claim; mail that arrives meanwhile is queued, and `resume` (or
`resume_for_email`, when a held email's decision arrives) sends it after the run's
function-call outputs, in any worker. A run that hangs does not keep its thread forever:
past ``max_run_seconds`` its heartbeat stops renewing (logged with the thread id), the claim
lapses one lease later and another worker may take the thread; whatever the hung run
writes afterwards is refused by the fencing token.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from mm_assistants.drivers import AssistantsRunDriver, ResponsesDriver, RunOutcome
from mm_assistants.drivers.assistants_api import AssistantsAPI
from mm_assistants.drivers.assistants_start import KeyedMessage
from mm_assistants.inbound.core import RouterCore, logger
from mm_assistants.inbound.fleet import ResumeResult
from mm_assistants.inbound.routing import Admitted, RouteResult, hold_call, thread_metadata
from mm_assistants.inbound.trust import TrustVerdict
from mm_assistants.state import InboundMessage
from mm_assistants.webhooks.events import WebhookEvent


class InboundRouter(RouterCore):
    """Routes inbound email to Assistants threads or Responses chains, blocking I/O.

    Options: ``assistant_id`` or ``model`` (which API), ``instructions`` (Responses),
    ``driver`` (a configured `AssistantsRunDriver`/`ResponsesDriver`; one is made from the
    client and dispatcher otherwise), ``store`` (a `RouteStore`, or a SQLite path; memory by
    default), ``trust`` (`TrustPolicy`), ``compose`` (event → text posted to the model),
    ``background`` (drive runs in a pool of ``max_workers`` threads the router owns),
    ``run_params`` (extra run / response parameters), ``on_outcome(mm_thread, outcome)``,
    ``limits`` (`InboundLimits`: rate limits and the bound on background runs),
    ``clock`` (monotonic seconds for the rate limits) and ``max_run_seconds`` (how long a
    run keeps its thread's claim alive; by default an hour, or the driver's ``deadline``
    plus five minutes when longer: see `run_limit`).
    """

    twin = "AsyncInboundRouter under asyncio"

    def __init__(
        self, openai_client: Any, dispatcher: Any, *, max_workers: int = 4, **options: Any
    ):
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        super().__init__(openai_client, dispatcher, **options)
        self.max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._futures: set[Future[list[RunOutcome]]] = set()
        self._lock = threading.Lock()

    def _default_driver(self) -> Any:
        if self.assistant_id is not None:
            return AssistantsRunDriver(self.openai, self.dispatcher)
        return ResponsesDriver(self.openai, self.dispatcher)

    def route(self, event: WebhookEvent) -> RouteResult:
        """Handle one parsed webhook event; never raises for an event it does not handle."""
        admitted = self.first_look(event)
        if isinstance(admitted, RouteResult):
            return admitted
        verdict = self._gate(admitted, self._lookup(admitted))
        gated = self._after_gate(admitted, verdict)
        if isinstance(gated, RouteResult):
            self._hold(admitted, verdict)
            return gated
        token = self._admit(admitted, gated)
        if isinstance(token, RouteResult):
            return token
        if self.background:
            self._submit(admitted.mm_thread_id, [gated], token)
            return RouteResult("started", admitted.email_id, admitted.mm_thread_id)
        outcomes = self._drive(admitted.mm_thread_id, [gated], token)
        return RouteResult(
            "started", admitted.email_id, admitted.mm_thread_id, outcomes=tuple(outcomes)
        )

    def gate(self, event: WebhookEvent) -> RouteResult | tuple[Admitted, InboundMessage]:
        """`route`'s checks without its admission: the screen, the duplicate check, the
        trust gate and the flood limits (a held email is tagged here, as by `route`).
        A `RouteResult` when the event goes no further, else the admitted event and the
        message to queue (`mm_assistants.inbound.work.FleetWork.admit` queues it)."""
        admitted = self.first_look(event)
        if isinstance(admitted, RouteResult):
            return admitted
        verdict = self._gate(admitted, self._lookup(admitted))
        gated = self._after_gate(admitted, verdict)
        if isinstance(gated, RouteResult):
            self._hold(admitted, verdict)
            return gated
        return admitted, gated

    def drive(self, mm_thread: str, messages: list[InboundMessage], token: int) -> list[RunOutcome]:
        """Drive ``messages`` on ``mm_thread`` under the claim ``token`` this worker just
        took (`RouteStore.claim`), as `route` and `drain` do: until the queue is empty,
        the run parks, or the claim is lost. A run that raises gives its messages back."""
        return self._drive(mm_thread, messages, token)

    def drain(self) -> int:
        """Start every thread whose messages wait with no live run (after a failure or a
        restart), then re-attach to the runs whose checkpoint claim lapsed (a run that
        raised or died with calls in flight: its thread waits parked on it, `resume`);
        returns how many threads it started or resumed."""
        started = 0
        for mm_thread in self.store.stalled():
            claimed = self._claim_stalled(mm_thread)
            if claimed is None:
                continue
            messages, token = claimed
            started += 1
            if self.background:
                self._submit(mm_thread, messages, token)
            else:
                self._drive(mm_thread, messages, token)
        for checkpoint in self._lapsed_runs():
            started += self.resume(checkpoint).action in ("resumed", "parked", "gone")
        return started

    def resume(self, key: str) -> ResumeResult:
        """Resume the parked Responses run of a thread (``key``: the MultiMail thread id or
        the checkpoint id) once its held sends are decided: the mail queued while it was
        parked follows the function-call outputs in the same request, in order, and the
        thread is driven on as after any run (finished, parked again, or its queue run).

        ``busy`` (another resumer holds the run) keeps the thread parked with its mail
        queued: call again later; so does a resume that raises (the error is re-raised).
        A worker that died mid-resume is replaced by calling this again once its claim
        lapsed. Blocks for the whole drive, whatever ``background`` says: call it from a
        worker."""
        located = self._locate(key)
        if isinstance(located, ResumeResult):
            return located
        mm_thread, checkpoint = located
        taken = self._take_parked(mm_thread, checkpoint)
        if isinstance(taken, ResumeResult):
            return taken
        token, queued = taken
        with self._heartbeat(mm_thread, token) as beat:
            try:
                outcome: RunOutcome = self.driver.resume(
                    checkpoint, follow_with=self._responses_input(queued)
                )
            except BaseException:
                self._resume_failed(mm_thread, checkpoint, token, queued)
                raise
        result, follow = self._after_resume(mm_thread, checkpoint, token, queued, outcome, beat)
        more = self._drive(mm_thread, follow, token) if follow else []
        return replace(result, outcomes=(*result.outcomes, *more))

    def resume_for_email(self, email_id: str) -> ResumeResult:
        """`resume` the parked run that waits for the held email ``email_id`` (found from
        its pending record in the dispatcher's ``approval_store``); call it when the
        email's decision arrives (an ``oversight.*`` webhook, a sweep)."""
        checkpoint = self._checkpoint_for_email(email_id)
        if isinstance(checkpoint, ResumeResult):
            return checkpoint
        return self.resume(checkpoint)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the background runs started so far; True when all have ended."""
        with self._lock:
            futures = list(self._futures)
        for future in futures:
            try:
                future.exception(timeout)
            except TimeoutError:
                return False
        return True

    def close(self) -> None:
        """Wait for the background runs, then stop the pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> InboundRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- I/O ----------------------------------------------------------------------------

    def _pending(self) -> int:
        with self._lock:
            return len(self._futures)

    def _lookup(self, admitted: Admitted) -> Mapping[str, Any] | None:
        if not self.trust.needs_lookup(admitted.event):
            return None
        mailbox = admitted.mailbox_id or self.dispatcher.mailbox_id
        if mailbox is None:
            return None
        email: Mapping[str, Any] | None = self.dispatcher.fetch_email(admitted.email_id, mailbox)
        return email

    def _hold(self, admitted: Admitted, verdict: TrustVerdict) -> None:
        result = self.dispatcher.dispatch(hold_call(admitted, verdict, self.trust))
        if not result.ok:
            logger.warning("could not tag held email %s: %s", admitted.email_id, result.output)
        self.store.mark_seen(admitted.key)  # after the tag: a crash before it tags again
        logger.info("inbound email %s held for a person: %s", admitted.email_id, verdict.reason)

    def _submit(self, mm_thread: str, messages: list[InboundMessage], token: int | None) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="mm-inbound")
            future = self._pool.submit(self._drive_logged, mm_thread, messages, token)
            self._futures.add(future)
        future.add_done_callback(self._futures.discard)

    def _drive_logged(
        self, mm_thread: str, messages: list[InboundMessage], token: int | None
    ) -> list[RunOutcome]:
        try:
            return self._drive(mm_thread, messages, token)
        except Exception:
            logger.exception(
                "inbound thread %s: the run failed; its messages are queued", mm_thread
            )
            raise

    def _drive(
        self, mm_thread: str, messages: list[InboundMessage], token: int | None = None
    ) -> list[RunOutcome]:
        """Drive the claimed thread until its queue is empty, it parks, or its claim is
        lost; the claim is renewed meanwhile and every write carries its token."""
        token = self._own(mm_thread, messages, token)
        if token is None:
            return []
        outcomes = []
        while messages:
            with self._heartbeat(mm_thread, token) as beat:
                try:
                    outcome = self._turn(mm_thread, messages, token)
                except BaseException:
                    self._run_failed(mm_thread, messages, token)
                    raise
            if outcome is None:  # the claim was lost before the run began
                break
            outcomes.append(outcome)
            self._report(mm_thread, outcome)
            messages = self._settle(mm_thread, token, outcome, beat)
        return outcomes

    def _turn(
        self, mm_thread: str, messages: list[InboundMessage], token: int
    ) -> RunOutcome | None:
        """One run over ``messages``; ``None`` (the messages given back) when a new
        Assistants thread cannot be recorded because another worker owns ``mm_thread``."""
        outcome: RunOutcome
        target = self.store.target(mm_thread)
        if self.assistant_id is None:
            outcome = self.driver.run(
                self._responses_input(messages),
                model=self.model,
                instructions=self.instructions,
                previous_response_id=target,
                **self._run_options(mm_thread),
            )
            return outcome  # its target is remembered by _settle, once the claim is known
        assistants = AssistantsAPI(self.openai)
        fresh = target is None
        if target is None:
            metadata = thread_metadata(mm_thread, self.dispatcher.mailbox_id)
            # an empty thread: its messages go with the run, so a crash posts none twice
            target = assistants.create_thread([], metadata).id
            if not self.store.set_target(mm_thread, target, token=token):
                # taken over meanwhile: the new owner runs these messages, on its own thread
                self._lost(mm_thread)
                self.store.release(mm_thread, messages, token=token)
                return None
        # Posted with the run (additional_messages), each keyed by its email id: a retry
        # after a crash posts only what is not on the thread, or drives the run that has it.
        outcome = self.driver.run_messages(
            target,
            self.assistant_id,
            [KeyedMessage(m.email_id, m.text) for m in messages],
            check_posted=not fresh,
            **self.run_params,
        )
        return outcome
