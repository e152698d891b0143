"""The dispatcher's shared, I/O-free half: configuration, preparing a call, shaping results.

`Dispatcher` and `AsyncDispatcher` subclass `DispatcherCore` and only add the sending;
each is typed with its client's kind, and a client of the other kind is a `TypeError` at
construction (`mm_assistants._validate.refuse_mix`).
The way of one call: look the tool up -> parse the JSON -> check the profile -> validate
against the schema -> check the mailbox scope -> derive the idempotency key -> bind.
Any refusal on that way is a `ToolResult` for the model, never an exception.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any, ClassVar, Generic, Literal, TypeVar

from mm_assistants import _validate
from mm_assistants.approvals import (
    ApprovalHub,
    ApprovalOutcome,
    ApprovalPolicy,
    PendingRecord,
    PendingStore,
)
from mm_assistants.approvals.watch import PENDING_STATUSES, outcome_from_email
from mm_assistants.dispatch.audit import AuditRecord, AuditSink, argument_digest, log_sink
from mm_assistants.dispatch.calls import PendingApproval, ToolCall, ToolResult
from mm_assistants.dispatch.handoff import (
    SecretCallback,
    carries_secrets,
    hand_over,
    mark_withheld,
    unavailable_refusal,
    withhold,
)
from mm_assistants.dispatch.multistep_tools import WaitPlan
from mm_assistants.dispatch.plans import ApprovalPlan as ApprovalPlan  # lived here before
from mm_assistants.dispatch.plans import PreparedCall as PreparedCall  # lived here before
from mm_assistants.dispatch.policy import (
    Refusal,
    derive_idempotency_key,
    parse_arguments,
    refusal_output,
    schema_refusal,
    tool_refusal,
)
from mm_assistants.dispatch.pow import MAX_NUMBER_CAP, attach_solution
from mm_assistants.dispatch.scope import (
    EMAIL_LOOKUP_TOOLS,
    NOT_GIVEN,
    AnyMailbox,
    NotGiven,
    default_mailbox,
    describe,
    found_in,
    lookup_mailboxes,
    lookup_refusal,
    needs_lookup,
    pinned_mailbox,
    resolve_scope,
    scope_refusal,
    within_scope,
)
from mm_assistants.dispatch.shaping import bound_output, shape_output
from mm_assistants.multimail.client import AsyncMultiMailClient, MultiMailClient
from mm_assistants.multimail.errors import (
    MultiMailError,
    NotFoundError,
    RateLimitError,
    TransportError,
)
from mm_assistants.state import current_owner
from mm_assistants.tools import (
    RequestSpec,
    ToolArgumentError,
    ToolRegistry,
    ToolSpec,
    load_registry,
)
from mm_assistants.tools.ids import is_plausible_id

#: Per-output cap. Assistants accept 512 KB of outputs per step; 48,000 characters leaves
#: room for ten calls of mostly multi-byte text.
DEFAULT_MAX_OUTPUT_CHARS = 48_000
MIN_OUTPUT_CHARS = 2_000
DEFAULT_MAX_CONCURRENCY = 8
#: How long past its deadline a wait keeps its pending record (time to submit its output).
WAIT_GRACE = 30.0
ErrorMode = Literal["report", "raise"]
ClientT = TypeVar("ClientT", MultiMailClient, AsyncMultiMailClient)


class ToolCallError(Exception):
    """Raised instead of returning a failed result when ``on_error="raise"``.

    Raised by ``dispatch_many``, it also tells the fate of the batch's other calls (see
    `mm_assistants.dispatch.batch`): ``completed`` holds the results of those that finished,
    ``unfinished`` the ids of those stopped or left running, whose effect is unknown.
    """

    def __init__(self, result: ToolResult) -> None:
        super().__init__(f"{result.name} ({result.call_id}) failed: {result.error_type}")
        self.result = result
        self.completed: tuple[ToolResult, ...] = ()
        self.unfinished: tuple[str, ...] = ()


class DispatcherCore(Generic[ClientT]):
    """Configuration and every decision of a dispatcher; subclasses add the I/O.

    ``client`` is the MultiMail client the subclass sends with: a `MultiMailClient` for
    `Dispatcher`, an `AsyncMultiMailClient` for `AsyncDispatcher` (the other kind is a
    `TypeError` here rather than an un-awaited coroutine mid-run). Every other option is
    keyword-only and listed in `Dispatcher`'s docstring.

    ``mailbox_id`` is the default mailbox and, unless ``allowed_mailboxes`` widens it (a
    collection of ids, or `ANY_MAILBOX`), the only mailbox the model may use. Left out, it
    is read from ``MULTIMAIL_MAILBOX_ID`` (like the client's ``MULTIMAIL_API_KEY``) and is
    then the scope just the same; ``mailbox_id=None`` ignores the variable. With no mailbox
    either way and no ``allowed_mailboxes``, every mailbox the API key reaches is allowed.
    ``allowed_mailboxes`` holds the resolved scope (``None``: any). See
    `mm_assistants.dispatch.scope` for what the scope means for listings and account tools.
    """

    #: The kind of client a subclass sends with (``None``: not checked), and what the
    #: refusal of the other kind advises instead.
    client_flavour: ClassVar[_validate.Flavour | None] = None
    client_advice: ClassVar[str] = ""

    def __init__(
        self,
        client: ClientT,
        *,
        registry: ToolRegistry | None = None,
        profile: str | None = "agent",
        tools: Iterable[str] | None = None,
        mailbox_id: str | NotGiven | None = NOT_GIVEN,
        allowed_mailboxes: Collection[str] | AnyMailbox | None = None,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        on_error: ErrorMode = "report",
        allow_self_approval: bool = False,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        audit: AuditSink | None = log_sink,
        wait_poll_interval: float = 3.0,
        approvals: ApprovalPolicy | None = None,
        approval_hub: ApprovalHub | None = None,
        approval_store: PendingStore | None = None,
        clock: Callable[[], float] = time.time,
        on_secret: SecretCallback | None = None,
        pow_max_number: int = MAX_NUMBER_CAP,
    ) -> None:
        owner = type(self).__name__
        if self.client_flavour is not None:
            found = _validate.flavour_of(client, "send")
            _validate.refuse_mix(
                owner,
                "client",
                client,
                found=found,
                wanted=self.client_flavour,
                instead=self.client_advice,
            )
        if on_error not in ("report", "raise"):
            raise ValueError(f"on_error must be 'report' or 'raise', not {on_error!r}")
        if max_output_chars < MIN_OUTPUT_CHARS:
            raise ValueError(f"max_output_chars must be at least {MIN_OUTPUT_CHARS}")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        _validate.number(owner, "wait_poll_interval", wait_poll_interval, above=True)
        if on_secret is not None and not callable(on_secret):
            raise TypeError(
                f"on_secret must be a callable taking a SecretHandoff, not {on_secret!r}"
            )
        if isinstance(pow_max_number, bool) or not isinstance(pow_max_number, int):
            raise TypeError("pow_max_number must be an int")
        if pow_max_number < 0:
            raise ValueError("pow_max_number must be at least 0")
        default = default_mailbox(mailbox_id, os.environ)  # checked: a misconfiguration
        allowed = resolve_scope(
            default, allowed_mailboxes, from_environment=mailbox_id is NOT_GIVEN
        )
        self.client: ClientT = client
        self.registry = registry if registry is not None else load_registry()
        self.enabled_tools = self.registry.resolve(
            profile=profile, tools=tools, allow_self_approval=allow_self_approval
        )
        self.mailbox_id = default
        self.allowed_mailboxes = allowed
        self.max_output_chars = max_output_chars
        self.on_error: ErrorMode = on_error
        self.max_concurrency = max_concurrency
        self.wait_poll_interval = wait_poll_interval
        self.approvals = approvals
        self.approval_hub = approval_hub
        self.approval_store = approval_store
        self._audit = audit
        self._clock = clock
        self.on_secret = on_secret
        self.pow_max_number = pow_max_number

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(tools={len(self.enabled_tools)}, "
            f"mailbox_id={self.mailbox_id!r}, "
            f"allowed_mailboxes={describe(self.allowed_mailboxes)}, on_error={self.on_error!r})"
        )

    def tool_definitions(self, format: Any = "assistants", *, strict: bool = True) -> list[Any]:
        """The enabled tools exported for ``format``, matching what this dispatcher accepts."""
        return self.registry.tools(
            format,
            tools=self.enabled_tools,
            strict=strict,
            mailbox_id=pinned_mailbox(self.mailbox_id, self.allowed_mailboxes),
            allow_self_approval=True,  # already checked at construction
        )

    # -- before the request -------------------------------------------------------------

    def prepare(self, call: ToolCall) -> PreparedCall | ToolResult:
        """Check ``call`` and bind its request, or return the refusal for the model."""
        started = time.perf_counter()
        refusal = tool_refusal(call.name, self.enabled_tools, self.registry)
        if refusal is not None:
            return self.refuse(call, refusal, started)
        spec = self.registry[call.name]
        if self.on_secret is None and carries_secrets(spec.name):  # never lose a shown-once key
            return self.refuse(call, unavailable_refusal(spec.name), started)
        arguments = parse_arguments(call.arguments)
        if isinstance(arguments, Refusal):
            return self.refuse(call, arguments, started)
        refusal = schema_refusal(spec.validator, arguments, spec.quick_check)
        if refusal is not None:
            return self.refuse(call, refusal, started)
        mailbox_id = self._mailbox_of(spec, arguments)
        refusal = scope_refusal(spec.name, mailbox_id, self.allowed_mailboxes)
        if refusal is not None:
            return self.refuse(call, refusal, started, mailbox_id=mailbox_id)
        if spec.gated and not arguments.get("idempotency_key"):
            scope = (call.context.run_id, call.context.response_id)
            arguments["idempotency_key"] = derive_idempotency_key(call.id, call.name, scope)
        try:
            request = self.registry.bind(call.name, arguments, mailbox_id=self.mailbox_id)
        except ToolArgumentError as exc:
            details = [{"path": f"$.{exc.field}"}] if exc.field else []
            return self.refuse(call, Refusal("invalid_arguments", str(exc), details), started)
        return PreparedCall(call, spec, arguments, request, mailbox_id, started)

    def _mailbox_of(self, spec: ToolSpec, arguments: Mapping[str, Any]) -> str | None:
        given = arguments.get("mailbox_id")
        if given is not None:
            return str(given)
        return self.mailbox_id if spec.endpoint.mailbox_scoped else None

    def scope_lookups(self, prepared: PreparedCall) -> tuple[RequestSpec, ...]:
        """The requests that tell whether a call naming only an email stays in the scope,
        tried in order until one `found_in_scope`: the held-email listing for
        ``decide_email``, the email in each scope mailbox for ``report_spam``/``not_spam``;
        empty when the scope needs no lookup."""
        name, scope = prepared.spec.name, self.allowed_mailboxes
        if needs_lookup(name, scope):
            return (self.registry.bind("list_pending", {}),)
        email_id = str(prepared.arguments.get("email_id"))
        mailboxes = lookup_mailboxes(name, self.mailbox_id, scope)
        return tuple(self.read_request(email_id, mailbox) for mailbox in mailboxes)

    def lookup_missed(self, prepared: PreparedCall, error: MultiMailError) -> bool:
        """True when a lookup's error only means "not in this mailbox" (look on)."""
        return isinstance(error, NotFoundError) and prepared.spec.name in EMAIL_LOOKUP_TOOLS

    def found_in_scope(self, prepared: PreparedCall, answer: Any) -> bool:
        """True when a lookup's ``answer`` (``None``: not found) shows the call's email in
        the scope."""
        email_id = prepared.arguments.get("email_id")
        return found_in(prepared.spec.name, email_id, answer, self.allowed_mailboxes)

    def outside_scope(self, prepared: PreparedCall) -> ToolResult:
        """The refusal of a call whose email no lookup found in the scope."""
        email_id = prepared.arguments.get("email_id")
        refusal = lookup_refusal(prepared.spec.name, email_id, self.allowed_mailboxes)
        return self.refuse(prepared.call, refusal, prepared.started)

    def with_solution(self, data: Any) -> Any:
        """A ``request_challenge`` answer with its ``pow_solution`` (see `attach_solution`);
        seconds of CPU at worst, so `AsyncDispatcher` runs it in a thread."""
        return attach_solution(data, max_number=self.pow_max_number)

    # -- client-side tools --------------------------------------------------------------

    def wait_plan(self, prepared: PreparedCall) -> WaitPlan:
        """How long a ``wait_for_email`` call may look, and how often."""
        return WaitPlan.create(
            self._clock(),
            prepared.arguments.get("timeout_seconds"),
            prepared.call.context.deadline,
            self.wait_poll_interval,
        )

    # -- the approval wait --------------------------------------------------------------

    def approval_plan(
        self, result: ToolResult, call: ToolCall, policy: ApprovalPolicy | None
    ) -> ApprovalPlan | None:
        """What to wait for after ``result``, until when and how, or ``None`` for no wait."""
        policy = policy if policy is not None else self.approvals
        if policy is None or not policy.wait or result.pending is None:
            return None
        deadline = policy.deadline(self._clock(), call.context.deadline)
        if self.approval_store is not None:
            # Recorded before the wait: a process that dies while waiting loses nothing.
            self.approval_store.add(
                self._pending_record(result.pending, call, waiting_until=deadline + WAIT_GRACE)
            )
        return ApprovalPlan(result.pending, deadline, policy)

    @staticmethod
    def replayed(prepared: PreparedCall, data: Any) -> tuple[str, str] | None:
        """(email id, mailbox id) of a gated send answered ``already_sent`` (a retry whose
        first answer was lost): its real status must be looked up, for it may be held."""
        mailbox_id = prepared.mailbox_id
        if not prepared.spec.gated or not mailbox_id or not isinstance(data, dict):
            return None
        email_id = data.get("id")
        if data.get("status") != "already_sent" or not is_plausible_id(email_id):
            return None  # an id that cannot name a path is not looked up
        return email_id, mailbox_id

    @staticmethod
    def with_real_status(data: dict[str, Any], email: Mapping[str, Any] | None) -> dict[str, Any]:
        """The ``already_sent`` answer with the email's status now (kept as it was when the
        lookup failed), so a send still held is waited on like a first answer."""
        if email is None or not isinstance(email.get("status"), str):
            return data
        return {**data, "status": email["status"], "thread_id": email.get("thread_id")}

    def replay_decided(
        self,
        result: ToolResult,
        call: ToolCall,
        replayed: tuple[str, str] | None,
        email: Mapping[str, Any] | None,
    ) -> ToolResult | None:
        """The decision a replayed send's lookup already shows, as the model reads a wait's
        outcome (``approved_and_sent`` only with MultiMail's evidence), or ``None`` when the
        email is still held, its state unknown or the lookup failed."""
        if replayed is None or email is None or not result.ok:
            return None
        outcome = outcome_from_email(
            replayed[0], email, waited=0.0, status_checks=1, woken_by="poll"
        )
        if outcome.decision in ("pending", "unknown") or not outcome.settled:
            return None
        return self.settle(result, call, outcome)

    def read_request(self, email_id: str, mailbox_id: str) -> RequestSpec:
        """The status check of a held email."""
        return self.registry.bind("read_email", {"email_id": email_id}, mailbox_id=mailbox_id)

    def settle(self, result: ToolResult, call: ToolCall, outcome: ApprovalOutcome) -> ToolResult:
        """``result`` with the wait's outcome as its output; a still-pending approval is
        recorded in the store so its decision can reach the conversation later."""
        output, truncated = bound_output(outcome.as_output(), self.max_output_chars, "")
        if self.approval_store is not None and result.pending is not None:
            if not outcome.settled:  # held, unknown, scheduled unapproved: resolve it later
                self.approval_store.add(self._pending_record(result.pending, call))
            else:  # the decision travels with this output
                self.approval_store.remove(result.pending.email_id)
        return replace(result, output=output, truncated=truncated, approval=outcome)

    @staticmethod
    def _pending_record(
        pending: PendingApproval, call: ToolCall, *, waiting_until: float | None = None
    ) -> PendingRecord:
        return PendingRecord(
            email_id=pending.email_id,
            mailbox_id=pending.mailbox_id,
            call_id=call.id,
            tool=call.name,
            thread_id=call.context.thread_id,
            run_id=call.context.run_id,
            response_id=call.context.response_id,
            waiting_until=waiting_until,
            owner=current_owner() if waiting_until is not None else None,
        )

    # -- after the request --------------------------------------------------------------

    def refuse(
        self,
        call: ToolCall,
        refusal: Refusal,
        started: float,
        *,
        mailbox_id: str | None = None,
        http_status: int | None = None,
        idempotency_key: str | None = None,
    ) -> ToolResult:
        """A failed `ToolResult` for ``refusal`` (audited; raised when on_error="raise")."""
        result = ToolResult(
            call_id=str(call.id),
            name=str(call.name),
            output=refusal_output(refusal),
            ok=False,
            error_type=refusal.type,
            http_status=http_status,
            duration=time.perf_counter() - started,
            idempotency_key=idempotency_key,
            mailbox_id=mailbox_id,
        )
        self._record(call, result)
        if self.on_error == "raise":
            raise ToolCallError(result)
        return result

    def succeed(self, prepared: PreparedCall, status: int, data: Any) -> ToolResult:
        """The `ToolResult` for a successful answer ``data`` (a `Refusal` instead when the
        answer was unusable, e.g. an unsolvable challenge)."""
        if isinstance(data, Refusal):
            return self._refuse_answer(prepared, status, data)
        data, withheld = withhold(prepared.spec.name, data)
        if withheld:
            refusal = (
                unavailable_refusal(prepared.spec.name)
                if self.on_secret is None  # only a dispatcher changed after construction
                else hand_over(self.on_secret, prepared.spec.name, prepared.call.id, withheld)
            )
            if refusal is not None:
                return self._refuse_answer(prepared, status, refusal)
        data = within_scope(prepared.spec.name, data, self.allowed_mailboxes)
        shaped = mark_withheld(shape_output(prepared.spec.name, data), withheld)
        output, truncated = bound_output(shaped, self.max_output_chars, _hint(prepared.spec.name))
        result = ToolResult(
            call_id=prepared.call.id,
            name=prepared.call.name,
            output=output,
            ok=True,
            http_status=status,
            duration=time.perf_counter() - prepared.started,
            idempotency_key=prepared.request.idempotency_key,
            mailbox_id=prepared.mailbox_id,
            pending=self._pending(prepared, data),
            truncated=truncated,
        )
        self._record(prepared.call, result)
        return result

    def _refuse_answer(self, prepared: PreparedCall, status: int, refusal: Refusal) -> ToolResult:
        return self.refuse(
            prepared.call,
            refusal,
            prepared.started,
            mailbox_id=prepared.mailbox_id,
            http_status=status,
            idempotency_key=prepared.request.idempotency_key,
        )

    def fail(self, prepared: PreparedCall, error: MultiMailError) -> ToolResult:
        """The `ToolResult` for an API or network error."""
        details: dict[str, Any] = {}
        if error.status is not None:
            details["status"] = error.status
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            details["retry_after_seconds"] = error.retry_after
        if error.details:
            details.update({k: v for k, v in error.details.items() if k != "error"})
        if isinstance(error, TransportError):
            kind = "outcome_unknown" if error.outcome_unknown else "network_error"
        else:
            kind = "api_error"
        message = error.error or str(error)
        return self.refuse(
            prepared.call,
            Refusal(kind, message, [details] if details else []),
            prepared.started,
            mailbox_id=prepared.mailbox_id,
            http_status=error.status,
            idempotency_key=prepared.request.idempotency_key,
        )

    @staticmethod
    def _pending(prepared: PreparedCall, data: Any) -> PendingApproval | None:
        if not prepared.spec.gated or not isinstance(data, dict):
            return None
        status = data.get("status")
        email_id = data.get("id")
        if status not in PENDING_STATUSES or not isinstance(email_id, str):
            return None
        return PendingApproval(
            email_id=email_id,
            mailbox_id=prepared.mailbox_id or "",
            status=str(status),
            thread_id=data.get("thread_id"),
        )

    def _record(self, call: ToolCall, result: ToolResult) -> None:
        if self._audit is None:
            return
        self._audit(
            AuditRecord(
                tool=str(call.name)[:64],
                call_id=str(call.id)[:128],
                outcome="ok" if result.ok else str(result.error_type),
                duration_ms=round(result.duration * 1000, 3),
                mailbox_id=result.mailbox_id,
                http_status=result.http_status,
                idempotency_key=result.idempotency_key,
                argument_digest=argument_digest(call.arguments),
                context=call.context.ids(),
            )
        )


def _hint(tool: str) -> str:
    """How the model gets what a cut output left out."""
    if tool in ("check_inbox", "get_thread", "list_pending", "list_spam", "wait_for_email"):
        return "use read_email for one message, or ask for fewer items with limit/cursor"
    if tool == "read_email":
        return "the body is too long to show whole; fetch attachments with download_attachment"
    return "ask for less at a time (use limit/cursor where the tool has them)"
