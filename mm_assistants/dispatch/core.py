"""The dispatcher's shared, I/O-free half: configuration, preparing a call, shaping results.

`Dispatcher` and `AsyncDispatcher` subclass `DispatcherCore` and only add the sending;
each is typed with its client's kind, and a client of the other kind is a `TypeError` at
construction (`mm_assistants._validate.refuse_mix`).
The way of one call: look the tool up -> parse the JSON -> check the profile -> validate
against the schema -> check the mailbox scope -> derive the idempotency key -> bind.
Any refusal on that way is a `ToolResult` for the model, never an exception.

The decisions live in small modules this class only configures: `policy` (refusals),
`scope` and `lookups` (the mailbox scope), `handoff` (secrets), `pow` (the signup
challenge), `shaping` (outputs) and `gated_sends` (held sends and the approval wait).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, ClassVar, Generic, Literal, TypeVar

from mm_assistants import _validate
from mm_assistants.approvals import ApprovalHub, ApprovalPolicy, PendingStore
from mm_assistants.dispatch import gated_sends
from mm_assistants.dispatch.attachments import DownloadPlan, plan_download
from mm_assistants.dispatch.audit import AuditSink, audit_record, log_sink
from mm_assistants.dispatch.calls import ToolCall, ToolResult
from mm_assistants.dispatch.handoff import (
    SecretCallback,
    carries_secrets,
    check_callback,
    pass_on,
    unavailable_refusal,
)
from mm_assistants.dispatch.lookups import ScopeLookup
from mm_assistants.dispatch.multistep_tools import WaitPlan
from mm_assistants.dispatch.plans import ApprovalPlan as ApprovalPlan  # lived here before
from mm_assistants.dispatch.plans import PreparedCall as PreparedCall  # lived here before
from mm_assistants.dispatch.policy import (
    Refusal,
    derive_idempotency_key,
    error_refusal,
    parse_arguments,
    refusal_output,
    schema_refusal,
    tool_refusal,
)
from mm_assistants.dispatch.pow import MAX_NUMBER_CAP, attach_solution, check_max_number
from mm_assistants.dispatch.scope import (
    NOT_GIVEN,
    AnyMailbox,
    NotGiven,
    default_mailbox,
    describe,
    pinned_mailbox,
    resolve_scope,
    scope_refusal,
    within_scope,
)
from mm_assistants.dispatch.sender_filter import request_sifter, sift_listing
from mm_assistants.dispatch.shaping import bound_output, cut_hint, shape_output
from mm_assistants.dispatch.withholding import mark_withheld, withhold_error
from mm_assistants.multimail.client import AsyncMultiMailClient, MultiMailClient
from mm_assistants.multimail.errors import MultiMailError
from mm_assistants.tools import (
    RequestSpec,
    ToolArgumentError,
    ToolRegistry,
    ToolSpec,
    load_registry,
)

#: Per-output cap. Assistants accept 512 KB of outputs per step; 48,000 characters leaves
#: room for ten calls of mostly multi-byte text.
DEFAULT_MAX_OUTPUT_CHARS = 48_000
MIN_OUTPUT_CHARS = 2_000
DEFAULT_MAX_CONCURRENCY = 8
ErrorMode = Literal["report", "raise"]
ClientT = TypeVar("ClientT", MultiMailClient, AsyncMultiMailClient)
#: An answer after its secrets were handed over: the rest and the withheld fields, or the
#: refusal to report instead.
Passed = tuple[Any, dict[str, str]] | Refusal


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


class DispatcherCore(gated_sends.GatedSendSteps, Generic[ClientT]):
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
        check_callback(on_secret, awaits=self.client_flavour == "async")
        check_max_number(pow_max_number)
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
        # One proof-of-work solve at a time: each is up to a second of hashing that holds
        # the GIL, and several at once would starve every other call of this process.
        self._solve_lock = threading.Lock()

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

    def scope_lookup(self, prepared: PreparedCall) -> ScopeLookup:
        """The lookups that tell whether a call naming only an email (a decision, a spam
        report) stays in the scope; see `mm_assistants.dispatch.lookups`."""
        email_id = prepared.arguments.get("email_id")
        return ScopeLookup.for_call(
            prepared.spec.name, email_id, self.mailbox_id, self.allowed_mailboxes, self.registry
        )

    def scope_verdict(self, prepared: PreparedCall, lookup: ScopeLookup) -> ToolResult | None:
        """The failed result a finished ``lookup`` calls for, or ``None`` to go ahead."""
        if isinstance(lookup.verdict, MultiMailError):
            return self.fail(prepared, lookup.verdict)
        if isinstance(lookup.verdict, Refusal):
            return self.refuse(prepared.call, lookup.verdict, prepared.started)
        return None

    def with_solution(self, data: Any) -> Any:
        """A ``request_challenge`` answer with its ``pow_solution`` (see `attach_solution`);
        about a second of CPU at worst, so `AsyncDispatcher` runs it in a thread. One solve
        runs at a time per dispatcher; the others wait their turn."""
        with self._solve_lock:
            return attach_solution(data, max_number=self.pow_max_number)

    # -- client-side tools --------------------------------------------------------------

    def wait_plan(self, prepared: PreparedCall) -> WaitPlan:
        """How long a ``wait_for_email`` call may look, and how often."""
        return WaitPlan.create(
            self._clock(),
            prepared.arguments.get("timeout_seconds"),
            prepared.call.context.deadline,
            self.wait_poll_interval,
            request_sifter(prepared.request.params),
        )

    def download_plan(self, prepared: PreparedCall, data: Any) -> DownloadPlan:
        """What a ``download_attachment`` call fetches after its link answer ``data``."""
        filename = str(prepared.arguments["filename"])
        return plan_download(data, prepared.request, self.client.base_url, filename)

    def read_request(self, email_id: str, mailbox_id: str) -> RequestSpec:
        """The status check of a held email."""
        return self.registry.bind("read_email", {"email_id": email_id}, mailbox_id=mailbox_id)

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

    def pass_secrets(self, prepared: PreparedCall, data: Any) -> Passed:
        """``data`` with its secrets withheld and handed to ``on_secret`` (see
        `mm_assistants.dispatch.handoff`), and the withheld fields; or the refusal to
        report instead (also when ``data`` already is one, e.g. an unsolvable challenge).
        `AsyncDispatcher` does the same with ``handoff.pass_on_async``."""
        if isinstance(data, Refusal):
            return data
        return pass_on(self.on_secret, prepared.spec.name, prepared.call.id, data)

    def succeed(self, prepared: PreparedCall, status: int, passed: Passed) -> ToolResult:
        """The `ToolResult` for a successful answer, as `pass_secrets` left it (a `Refusal`
        instead when the answer was unusable or its secret did not reach the operator)."""
        if isinstance(passed, Refusal):  # a secret the operator did not get: not shown either
            return self._refuse_answer(prepared, status, passed)
        data, withheld = passed
        data = within_scope(prepared.spec.name, data, self.allowed_mailboxes)
        data = sift_listing(prepared.spec.name, prepared.request.params, data)
        shaped = mark_withheld(shape_output(prepared.spec.name, data), withheld)
        output, truncated = bound_output(
            shaped, self.max_output_chars, cut_hint(prepared.spec.name)
        )
        result = ToolResult(
            call_id=prepared.call.id,
            name=prepared.call.name,
            output=output,
            ok=True,
            http_status=status,
            duration=time.perf_counter() - prepared.started,
            idempotency_key=prepared.request.idempotency_key,
            mailbox_id=prepared.mailbox_id,
            pending=gated_sends.pending_of(prepared, data),
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
        # An error answer of a secret-bearing tool may carry the secret too (a field of its
        # body, or quoted in its message): it is withheld there as well.
        return self.refuse(
            prepared.call,
            withhold_error(prepared.spec.name, error_refusal(error)),
            prepared.started,
            mailbox_id=prepared.mailbox_id,
            http_status=error.status,
            idempotency_key=prepared.request.idempotency_key,
        )

    def _record(self, call: ToolCall, result: ToolResult) -> None:
        if self._audit is None:
            return
        self._audit(audit_record(call, result))
