"""`Dispatcher` and `AsyncDispatcher`: one tool call in, one request, one output out.

Example::

    dispatcher = Dispatcher(MultiMailClient(api_key="mm_live_..."), mailbox_id="mbx_1")
    result = dispatcher.dispatch(ToolCall(id="call_1", name="check_inbox", arguments="{}"))

Both classes take every decision in `DispatcherCore`; they differ only in how they wait
for I/O. `dispatch` never raises for anything a model sends: refusals, API errors and
network faults all become a `ToolResult` with ``ok=False``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from mm_assistants.approvals import ApprovalPolicy, waiter
from mm_assistants.dispatch import attachments, multistep_tools
from mm_assistants.dispatch.batch import Outcome, batch_failure, outcome_of, stoppable
from mm_assistants.dispatch.calls import ToolCall, ToolResult
from mm_assistants.dispatch.core import DispatcherCore, Passed
from mm_assistants.dispatch.handoff import pass_on_async
from mm_assistants.dispatch.plans import PreparedCall
from mm_assistants.dispatch.policy import Refusal
from mm_assistants.multimail.client import AsyncMultiMailClient, MultiMailClient
from mm_assistants.multimail.errors import MultiMailError, RedirectRefused


class Dispatcher(DispatcherCore[MultiMailClient]):
    """Dispatches tool calls with a blocking `MultiMailClient`.

    Keyword options (the same for `AsyncDispatcher`; checked in `DispatcherCore`):

    - ``registry``: the `ToolRegistry` (default: the bundled ``v1`` schemas).
    - ``profile``: ``"agent"`` (default), ``"reviewer"`` or ``"admin"``: which tools the
      model may call; ``tools``: an explicit list of tool names instead.
    - ``allow_self_approval``: allow a tool set that can both write and approve email
      (default ``False``: such a set is refused at construction).
    - ``mailbox_id``: the default mailbox, and the only one the model may use unless
      ``allowed_mailboxes`` widens it (a collection of ids, or `ANY_MAILBOX` for every
      mailbox the key reaches). Left out, it comes from ``MULTIMAIL_MAILBOX_ID``;
      ``mailbox_id=None`` means none and ignores the variable.
    - ``max_output_chars``: the bound on one output (default 48,000; at least 2,000).
    - ``on_error``: ``"report"`` (default: a failure is an output for the model) or
      ``"raise"`` (a `ToolCallError`).
    - ``max_concurrency``: calls of one step run at once by `dispatch_many` (default 8).
    - ``audit``: a sink for one `AuditRecord` per call (default: the log), or ``None``.
    - ``wait_poll_interval``: seconds between looks of ``wait_for_email`` (default 3).
    - ``approvals``: the `ApprovalPolicy` for gated sends when `dispatch` is given none
      (default ``None``: no wait; the output says the send is held).
    - ``approval_hub``: an `ApprovalHub` whose decisions (from webhooks) end waits at once.
    - ``approval_store``: a `PendingStore` that records sends still held when the wait
      ends (and, before it, the wait itself), so their decisions reach the conversation
      later (`resolve_pending`).
    - ``clock``: unix seconds, what "now" is for approval deadlines and ``wait_for_email``
      (default ``time.time``; tests pass a fake).
    - ``on_secret``: a callable given one `SecretHandoff` per secret in an answer (the API
      key of ``activate_account``/``create_api_key``, the signing secret of
      ``create_webhook``, the billing links of ``get_billing_portal``/``upgrade_plan``);
      the model reads a marker instead. Without it those tools are refused before any
      request (see `mm_assistants.dispatch.handoff`). `Dispatcher` refuses an ``async
      def`` (it could not await it); `AsyncDispatcher` awaits one, at most 10 seconds.
    - ``pow_max_number``: the largest ``maxnumber`` of a signup challenge the dispatcher
      solves for ``request_challenge`` (default 2,000,000; see `mm_assistants.dispatch.pow`).
      One solve runs at a time per dispatcher, so N challenges in one step take N solves.
    """

    client_flavour = "sync"
    client_advice = "pass a MultiMailClient, or use AsyncDispatcher under asyncio"

    @staticmethod
    def _sleep(seconds: float) -> None:
        """The one pause of this dispatcher's client-side waits (``wait_for_email`` and
        the approval wait), so a test that fakes it fakes them both."""
        time.sleep(seconds)

    def dispatch(self, call: ToolCall, *, approvals: ApprovalPolicy | None = None) -> ToolResult:
        """Carry out one call; the result is ready to hand back to the model.

        A send held for approval is waited on per ``approvals`` (default: the
        dispatcher's own policy; no wait when neither is set), bounded by the call's
        deadline.
        """
        prepared = self.prepare(call)
        if isinstance(prepared, ToolResult):
            return prepared
        refused = self._check_scope(prepared)
        if refused is not None:
            return refused
        try:
            status, data = self._perform(prepared)
        except MultiMailError as error:
            return self.fail(prepared, error)
        replayed = self.replayed(prepared, data)
        email = None if replayed is None else self.fetch_email(*replayed)
        if replayed is not None:
            data = self.with_real_status(data, email)
        result = self.succeed(prepared, status, self.pass_secrets(prepared, data))
        decided = self.replay_decided(result, call, replayed, email)
        if decided is not None:  # decided before the retry's answer came back
            return decided
        plan = self.approval_plan(result, call, approvals)
        if plan is None:
            return result
        outcome = waiter.wait_sync(
            self.fetch_email,
            plan.pending.email_id,
            plan.pending.mailbox_id,
            policy=plan.policy,
            deadline=plan.deadline,
            hub=self.approval_hub,
            clock=self._clock,
            sleep=self._sleep,
            cancel=call.context.cancel,
        )
        return self.settle(result, call, outcome)

    def dispatch_many(
        self, calls: Sequence[ToolCall], *, approvals: ApprovalPolicy | None = None
    ) -> list[ToolResult]:
        """Carry out the calls of one step concurrently (approval waits included);
        results keep the calls' order.

        The first failure (with ``on_error="raise"``, any failed call) is raised at once:
        calls not started never start and approval waits are told to end; a request
        already on the wire cannot be interrupted, so it finishes in a background thread
        and its result is dropped. The `ToolCallError` lists the siblings that finished
        (``completed``) and those whose effect is unknown (``unfinished``); see
        `mm_assistants.dispatch.batch`.
        """
        if len(calls) <= 1 or self.max_concurrency == 1:
            return self._dispatch_in_turn(calls, approvals)
        linked, signals = stoppable(calls)
        workers = min(len(calls), self.max_concurrency)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mm-dispatch")
        try:
            futures = [pool.submit(self.dispatch, call, approvals=approvals) for call in linked]
            wait(futures, return_when=FIRST_EXCEPTION)
            failure = batch_failure(calls, [outcome_of(future) for future in futures])
            if failure is not None:
                raise failure
            results = [future.result() for future in futures]
        except BaseException:
            # Do not wait for the siblings (an approval wait may last minutes): stop what
            # can be stopped and let a request in flight finish unseen.
            for signal in signals:
                signal.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return results

    def _dispatch_in_turn(
        self, calls: Sequence[ToolCall], approvals: ApprovalPolicy | None
    ) -> list[ToolResult]:
        outcomes: list[Outcome] = [None] * len(calls)
        for index, call in enumerate(calls):
            try:
                outcomes[index] = self.dispatch(call, approvals=approvals)
            except BaseException as error:
                outcomes[index] = error
                batch_failure(calls, outcomes)  # tells a ToolCallError its siblings' fate
                raise
        return [outcome for outcome in outcomes if isinstance(outcome, ToolResult)]

    def fetch_email(self, email_id: str, mailbox_id: str) -> Mapping[str, Any] | None:
        """The email's record as ``read_email`` returns it, or ``None`` when it cannot be
        read now (an API error or an odd answer: a wait looks again later). The approval
        waits, the drivers' late decisions and the inbound trust gate read email this way."""
        try:
            data = self.client.send(self.read_request(email_id, mailbox_id)).data
        except MultiMailError:
            return None  # the wait looks again later
        return data if isinstance(data, dict) else None

    def _check_scope(self, prepared: PreparedCall) -> ToolResult | None:
        """Look up where a call naming only an email (a decision, a spam report) points,
        and refuse it outside the scope; ``None`` lets it through."""
        lookup = self.scope_lookup(prepared)  # every decision is the lookup's
        while (request := lookup.next_request()) is not None:
            try:
                answer = self.client.send(request, cancel=prepared.call.context.cancel).data
            except MultiMailError as error:
                lookup.failed(error)
            else:
                lookup.answered(answer)
        return self.scope_verdict(prepared, lookup)

    def _perform(self, prepared: PreparedCall) -> tuple[int, Any]:
        name = prepared.spec.name
        if name == "wait_for_email":
            return multistep_tools.wait_for_email_sync(
                self.client.send,
                prepared.request,
                self.wait_plan(prepared),
                self._clock,
                self._sleep,
            )
        # A cancelled call (the SDK gave up on it, the run ended) sends nothing any more.
        response = self.client.send(prepared.request, cancel=prepared.call.context.cancel)
        if name == "request_challenge":
            return response.status, self.with_solution(response.data)
        if name != "download_attachment":
            return response.status, response.data
        plan = self.download_plan(prepared, response.data)
        if plan.source is None:
            return response.status, plan.answer_without_file()
        # Only a file small enough to inline is worth reading whole; a larger one is only
        # described, so reading stops just past the inline limit.
        try:
            file = self.client.fetch_url(
                plan.source,
                max_bytes=attachments.INLINE_LIMIT,
                send_key=plan.send_key,
                cancel=prepared.call.context.cancel,
            )
        except RedirectRefused:  # sent elsewhere: the file is described, never fetched there
            return response.status, plan.answer_not_followed()
        return plan.answer(file, self.max_output_chars)


class AsyncDispatcher(DispatcherCore[AsyncMultiMailClient]):
    """`Dispatcher` for asyncio, with an `AsyncMultiMailClient`; same options."""

    client_flavour = "async"
    client_advice = "pass an AsyncMultiMailClient, or use Dispatcher in blocking code"
    _solve_loop: asyncio.AbstractEventLoop | None = None
    _solve_async_lock: asyncio.Lock | None = None

    @staticmethod
    async def _sleep(seconds: float) -> None:
        """The one pause of this dispatcher's client-side waits (see `Dispatcher._sleep`)."""
        await asyncio.sleep(seconds)

    async def dispatch(
        self, call: ToolCall, *, approvals: ApprovalPolicy | None = None
    ) -> ToolResult:
        """Carry out one call; see `Dispatcher.dispatch`."""
        prepared = self.prepare(call)
        if isinstance(prepared, ToolResult):
            return prepared
        refused = await self._check_scope(prepared)
        if refused is not None:
            return refused
        try:
            status, data = await self._perform(prepared)
        except MultiMailError as error:
            return self.fail(prepared, error)
        replayed = self.replayed(prepared, data)
        email = None if replayed is None else await self.fetch_email(*replayed)
        if replayed is not None:
            data = self.with_real_status(data, email)
        result = self.succeed(prepared, status, await self._pass_secrets(prepared, data))
        decided = self.replay_decided(result, call, replayed, email)
        if decided is not None:  # decided before the retry's answer came back
            return decided
        plan = self.approval_plan(result, call, approvals)
        if plan is None:
            return result
        outcome = await waiter.wait_async(
            self.fetch_email,
            plan.pending.email_id,
            plan.pending.mailbox_id,
            policy=plan.policy,
            deadline=plan.deadline,
            hub=self.approval_hub,
            clock=self._clock,
            sleep=self._sleep,
            cancel=call.context.cancel,
        )
        return self.settle(result, call, outcome)

    async def dispatch_many(
        self, calls: Sequence[ToolCall], *, approvals: ApprovalPolicy | None = None
    ) -> list[ToolResult]:
        """Carry out the calls of one step concurrently (approval waits included);
        results keep the calls' order.

        The first failure is raised at once, as in `Dispatcher.dispatch_many`; the other
        calls are cancelled wherever they are (a request already sent may still have
        reached MultiMail), and the `ToolCallError` tells which finished and which not.
        """
        limit = asyncio.Semaphore(self.max_concurrency)

        async def bounded(call: ToolCall) -> ToolResult:
            async with limit:
                return await self.dispatch(call, approvals=approvals)

        tasks = [asyncio.ensure_future(bounded(call)) for call in calls]
        try:
            if tasks:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            failure = batch_failure(calls, [outcome_of(task) for task in tasks])
            if failure is not None:
                raise failure
            return [task.result() for task in tasks]
        finally:
            unfinished = [task for task in tasks if not task.done()]
            for task in unfinished:  # one failed: stop the rest rather than leak them
                task.cancel()
            if unfinished:  # cancelling is prompt; waiting for it leaves nothing pending
                await asyncio.gather(*unfinished, return_exceptions=True)

    async def fetch_email(self, email_id: str, mailbox_id: str) -> Mapping[str, Any] | None:
        """The email's record, or ``None`` when it cannot be read now; see
        `Dispatcher.fetch_email`."""
        try:
            data = (await self.client.send(self.read_request(email_id, mailbox_id))).data
        except MultiMailError:
            return None  # the wait looks again later
        return data if isinstance(data, dict) else None

    async def _pass_secrets(self, prepared: PreparedCall, data: Any) -> Passed:
        """`DispatcherCore.pass_secrets`, awaiting an ``on_secret`` that returns an
        awaitable (at most ``handoff.HANDOFF_TIMEOUT`` seconds)."""
        if isinstance(data, Refusal):
            return data
        return await pass_on_async(self.on_secret, prepared.spec.name, prepared.call.id, data)

    async def _solve(self, data: Any) -> Any:
        """`DispatcherCore.with_solution` in a thread, one at a time: the others wait here,
        not in a worker thread of their own. A cancelled call still lets its thread finish
        (it cannot be stopped) before the next solve starts."""
        async with self._solve_turn():
            solving = asyncio.ensure_future(asyncio.to_thread(self.with_solution, data))
            try:
                return await asyncio.shield(solving)
            except asyncio.CancelledError:
                await asyncio.wait({solving})  # bounded: a solve is capped (pow_max_number)
                raise

    def _solve_turn(self) -> asyncio.Lock:
        # An asyncio.Lock belongs to one event loop; a dispatcher used under a new loop
        # (a second asyncio.run) gets a new one. The thread lock still holds across loops.
        loop = asyncio.get_running_loop()
        lock = self._solve_async_lock
        if lock is None or self._solve_loop is not loop:
            lock = asyncio.Lock()
            self._solve_loop, self._solve_async_lock = loop, lock
        return lock

    async def _check_scope(self, prepared: PreparedCall) -> ToolResult | None:
        """See `Dispatcher._check_scope`."""
        lookup = self.scope_lookup(prepared)
        while (request := lookup.next_request()) is not None:
            try:
                answer = (await self.client.send(request, cancel=prepared.call.context.cancel)).data
            except MultiMailError as error:
                lookup.failed(error)
            else:
                lookup.answered(answer)
        return self.scope_verdict(prepared, lookup)

    async def _perform(self, prepared: PreparedCall) -> tuple[int, Any]:
        name = prepared.spec.name
        if name == "wait_for_email":
            return await multistep_tools.wait_for_email_async(
                self.client.send,
                prepared.request,
                self.wait_plan(prepared),
                self._clock,
                self._sleep,
            )
        response = await self.client.send(prepared.request, cancel=prepared.call.context.cancel)
        if name == "request_challenge":  # up to a second of hashing: off the event loop
            return response.status, await self._solve(response.data)
        if name != "download_attachment":
            return response.status, response.data
        plan = self.download_plan(prepared, response.data)
        if plan.source is None:
            return response.status, plan.answer_without_file()
        try:
            file = await self.client.fetch_url(
                plan.source,
                max_bytes=attachments.INLINE_LIMIT,
                send_key=plan.send_key,
                cancel=prepared.call.context.cancel,
            )
        except RedirectRefused:
            return response.status, plan.answer_not_followed()
        return plan.answer(file, self.max_output_chars)
