"""The sandbox's own controls: in Python (`MultiMailControl`) and over HTTP under
``/sandbox`` (no key needed, not counted as API calls, never part of MultiMail's API).

- ``POST /sandbox/inbound``: deliver an email to a mailbox as if from outside:
  ``{sender, subject, markdown, attachments?: [{name, content_base64, content_type}],
  spam_verdict?, spam_score?, dkim?, spf?, dmarc?, in_reply_to?, mailbox_id?}`` (default
  mailbox: the seed's). Answers 201 with the stored email.
- ``POST /sandbox/decide {email_id, action: approve|reject, reason?}``: decide as the
  tenant's operator (``approved_by`` is the oversight email). Answers ``{id, status}``.
- ``GET /sandbox/clock``; ``POST /sandbox/clock {"advance": s}`` or ``{"offset": s}``
  (needs a clock with ``advance``/``set_offset``, such as `SandboxClock`).
- ``GET /sandbox/codes[?purpose=]``: open approval and upgrade codes, as mailed to the
  operator (also ``/sandbox/approval-codes`` and ``/sandbox/upgrade-codes``).
- ``POST /sandbox/suppress {address, reason?, tenant_id?}``: suppress an address (a bounce).
- ``GET /sandbox/sent``: what left the sandbox: deliveries and ``monitored`` operator copies.
- ``POST /sandbox/signup {name, oversight_email}``: an unconfirmed tenant and the code
  that ``POST /v1/confirm`` takes (answers ``{tenant_id, mailbox_id, code}``).
- ``GET /sandbox/billing/checkout/{token}``: the checkout page (the ``checkout_url`` of
  ``POST /v1/billing/checkout``); its ``POST`` pays as the operator (the token is not the
  session id, which `MultiMailControl.complete_checkout` takes); ``GET
  /sandbox/billing/portal/{id}``: the billing a ``portal_url`` shows (see `routes_billing`).
  These two are bearer links: the served sandbox lets them through without the token.
- ``GET /sandbox/seed``: the seeded tenants, mailboxes and keys (it is a local sandbox).
- ``GET /sandbox/counters``: ``{"total", "routes"}``; ``DELETE`` answers the same and resets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.docstore import Doc, public
from mm_assistants.sandbox.multimail_api import codes, drafts, signing
from mm_assistants.sandbox.multimail_api.errors import ApiError, bad_request, not_found
from mm_assistants.sandbox.multimail_api.ledger import OPERATOR
from mm_assistants.sandbox.multimail_api.routes_billing import (
    billing_of,
    billing_view,
    complete_checkout,
)
from mm_assistants.sandbox.multimail_api.routes_contacts import suppress
from mm_assistants.sandbox.multimail_api.routes_oversight import held_emails, read_decision
from mm_assistants.sandbox.multimail_api.routes_signup import create_signup
from mm_assistants.sandbox.multimail_api.routing import Context, json_body, ok, open_route
from mm_assistants.sandbox.multimail_api.seed import SandboxSeed
from mm_assistants.sandbox.multimail_api.views import full, pending

_SPAM_VERDICTS = ("clean", "flagged", "quarantined")


class MultiMailControl:
    """The running sandbox, for the process that started it.

    Example::

        control = app.state.multimail_sandbox
        email = control.inject_inbound(sender="ann@example.com", subject="Hi", markdown="Hello")
        control.decide(held_id, action="approve")
        control.counters(reset=True)
    """

    def __init__(self, ctx: Context, seed: SandboxSeed) -> None:
        self._ctx = ctx
        self._seed = seed

    @property
    def seed(self) -> SandboxSeed:
        """The seeded tenants and keys."""
        return self._seed

    def settle(self) -> int:
        """Settle due emails now (and emit their events); how many changed."""
        return self._ctx.postbox.sweep()

    def inject_inbound(
        self,
        mailbox_id: str | None = None,
        *,
        sender: str,
        subject: str,
        markdown: str,
        attachments: Sequence[Mapping[str, Any]] = (),
        spam_verdict: str | None = None,
        spam_score: int | None = None,
        dkim: str | None = None,
        spf: str | None = None,
        dmarc: str | None = None,
        in_reply_to: str | None = None,
    ) -> dict[str, Any]:
        """Deliver an email from outside; the stored email as ``read_email`` shows it.
        Raises ``ValueError`` on bad input (unknown mailbox, bad address or verdict)."""
        try:
            email = inject_email(
                self._ctx,
                mailbox_id or self._seed.mailbox_id,
                {
                    "from": sender,
                    "subject": subject,
                    "markdown": markdown,
                    "spam_verdict": spam_verdict,
                    "spam_score": spam_score,
                    "dkim": dkim,
                    "spf": spf,
                    "dmarc": dmarc,
                    "in_reply_to": in_reply_to,
                },
                list(attachments),
            )
        except ApiError as exc:
            raise ValueError(exc.message) from exc
        return email

    def decide(
        self, email_id: str, action: str = "approve", reason: str | None = None
    ) -> dict[str, Any]:
        """Decide a held email as its tenant's operator: ``{id, status}``. Raises
        ``ValueError`` on a bad action or unknown email, or when it is not held."""
        try:
            return decide_email(
                self._ctx, {"email_id": email_id, "action": action, "reason": reason}
            )
        except ApiError as exc:
            raise ValueError(exc.message) from exc

    def pending(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        """A tenant's emails held for a decision (default: the seed's), oldest first, as
        ``GET /v1/oversight/pending`` lists them."""
        self.settle()
        return [pending(e) for e in held_emails(self._ctx, tenant_id or self._seed.tenant_id)]

    def email(self, email_id: str) -> dict[str, Any] | None:
        """An email as ``read_email`` would show it (without marking it read)."""
        self.settle()
        email = self._ctx.store.get("emails", email_id)
        return None if email is None else full(email)

    def codes(self, purpose: str | None = None) -> list[dict[str, Any]]:
        """Open operator codes of every tenant (``purpose``: ``upgrade``,
        ``create_mailbox``, ``create_webhook``, ``create_api_key``, ``revoke_api_key``,
        ``cancel_subscription``, ``confirm_account``)."""
        return [
            codes.view(code)
            for tenant in self._ctx.store.children("tenants")
            for code in codes.open_codes(self._ctx, tenant["id"], purpose)
        ]

    def approval_code(self, purpose: str) -> str:
        """The newest open code of ``purpose`` (e.g. ``create_webhook``), as the operator
        reads it in their oversight email; ``LookupError`` when none is open.

        Example::

            admin.post("/v1/webhooks", json=body)   # 202: a code goes to the operator
            code = control.approval_code("create_webhook")
            admin.post("/v1/webhooks", json={**body, "approval_code": code})   # 201
        """
        found = self.codes(purpose)
        if not found:
            raise LookupError(f"no open {purpose} code")
        newest = max(found, key=lambda code: str(code["created_at"]))
        return str(newest["id"])

    def suppress(
        self, address: str, reason: str = "bounce", tenant_id: str | None = None
    ) -> dict[str, Any]:
        """Put ``address`` on a tenant's suppression list (default: the seed's tenant)."""
        if not drafts.is_address(address):
            raise ValueError(f"not an email address: {address!r}")
        return suppress(
            self._ctx.store, tenant_id or self._seed.tenant_id, address, reason, self._ctx.now()
        )

    def signup(self, name: str, oversight_email: str) -> dict[str, Any]:
        """An unconfirmed tenant with an ``agent`` mailbox: ``{tenant_id, mailbox_id,
        code}``, the code being what ``POST /v1/confirm`` takes."""
        try:
            return create_signup(self._ctx, name, oversight_email)
        except ApiError as exc:
            raise ValueError(exc.message) from exc

    def complete_checkout(self, session_id: str) -> dict[str, Any]:
        """Pay checkout session ``session_id`` as its operator would (what opening its
        ``checkout_url`` does): the tenant's plan changes. Raises ``ValueError`` for an
        unknown session."""
        try:
            return complete_checkout(self._ctx, session_id)
        except ApiError as exc:
            raise ValueError(exc.message) from exc

    def billing(self, tenant_id: str | None = None) -> dict[str, Any]:
        """A tenant's billing (default: the seed's): ``{plan, customer, subscription}``."""
        return billing_view(billing_of(self._ctx, tenant_id or self._seed.tenant_id))

    def sent(self) -> list[dict[str, Any]]:
        """What left the sandbox, oldest first: ``delivery`` and ``operator_copy`` entries,
        each with the ``headers`` and ``body`` it left with (identity claim, AI disclosure)."""
        self.settle()
        return [public(entry) for entry in self._ctx.store.children("wire")]

    def read_identity(self, header: str) -> dict[str, Any] | None:
        """The claims of an ``X-MultiMail-Identity`` value this sandbox signed, else
        ``None`` (what MultiMail's published key verifies; the sandbox's key is private)."""
        return signing.read_identity(header, self._ctx.store.secret())

    def counters(self, *, reset: bool = False) -> dict[str, Any]:
        """Requests per route template since the last reset."""
        return self._ctx.counters.snapshot(reset=reset)

    def close(self) -> None:
        """Close the database connection (the app answers no more requests after this)."""
        self._ctx.store.close()


def inject_email(ctx: Context, mailbox_id: str, fields: dict[str, Any], attachments: Any) -> Doc:
    """Deliver an email from outside (``fields`` as ``POST /sandbox/inbound`` names them);
    the stored email as ``read_email`` shows it. Raises `ApiError` on bad input."""
    ctx.postbox.sweep()
    mailbox = ctx.store.get("mailboxes", mailbox_id)
    if mailbox is None or not mailbox["is_active"]:
        raise not_found("Mailbox")
    if not drafts.is_address(fields["from"]):
        raise bad_request(f"Invalid sender address: {fields['from']!r}")
    if not isinstance(fields["subject"], str) or not isinstance(fields["markdown"], str):
        raise bad_request("subject and markdown must be strings")
    if fields["spam_verdict"] not in (None, *_SPAM_VERDICTS):
        raise bad_request(f"spam_verdict must be one of {list(_SPAM_VERDICTS)}")
    fields["from"] = fields["from"].strip().lower()
    email = ctx.postbox.receive(mailbox, fields, drafts.attachments(attachments))
    return full(email)


def decide_email(ctx: Context, body: Doc) -> dict[str, Any]:
    """Decide a held email as its tenant's operator (``body`` as ``POST /sandbox/decide``
    takes it): ``{id, status}``. Raises `ApiError` on a bad action or unknown email."""
    ctx.postbox.sweep()
    action, reason = read_decision(body)
    email_id = body.get("email_id")
    email = ctx.store.get("emails", email_id) if isinstance(email_id, str) else None
    if email is None:
        raise not_found("Email")
    tenant = ctx.store.get("tenants", email["_tenant"]) or {}
    operator = str(tenant.get("oversight_email") or OPERATOR)
    status = ctx.postbox.decide(email, action, reason, operator, OPERATOR)
    return {"id": email["id"], "status": status}


class _ControlHandlers:
    """The ``/sandbox`` handlers, one method each, over one `MultiMailControl`."""

    def __init__(self, control: MultiMailControl) -> None:
        self.control = control

    async def inbound(self, ctx: Context, request: Request) -> Response:
        body = await json_body(request)
        fields = inbound_fields(body)
        mailbox_id = body.get("mailbox_id") or self.control.seed.mailbox_id
        return ok(inject_email(ctx, str(mailbox_id), fields, body.get("attachments") or []), 201)

    async def decide(self, ctx: Context, request: Request) -> Response:
        return ok(decide_email(ctx, await json_body(request)))

    async def get_clock(self, ctx: Context, request: Request) -> Response:
        return ok(_clock_view(ctx))

    async def set_clock(self, ctx: Context, request: Request) -> Response:
        move_clock(ctx.clock, await json_body(request))
        self.control.settle()
        return ok(_clock_view(ctx))

    async def list_codes(
        self, ctx: Context, request: Request, purpose: str | None = None
    ) -> Response:
        return ok({"codes": self.control.codes(purpose or request.query_params.get("purpose"))})

    async def upgrade_codes(self, ctx: Context, request: Request) -> Response:
        return await self.list_codes(ctx, request, "upgrade")

    async def suppress_address(self, ctx: Context, request: Request) -> Response:
        body = await json_body(request)
        address, reason = _two_strings(
            "address (and reason) must be strings",
            body.get("address"),
            body.get("reason") or "bounce",
        )
        try:
            return ok(self.control.suppress(address, reason, body.get("tenant_id")), 201)
        except ValueError as exc:
            raise bad_request(str(exc)) from exc

    async def signup(self, ctx: Context, request: Request) -> Response:
        body = await json_body(request)
        name, email = _two_strings(
            "name and oversight_email must be strings",
            body.get("name"),
            body.get("oversight_email"),
        )
        return ok(create_signup(ctx, name, email), 201)

    async def sent(self, ctx: Context, request: Request) -> Response:
        return ok({"messages": self.control.sent()})

    async def seed(self, ctx: Context, request: Request) -> Response:
        return ok(self.control.seed.as_json())

    async def counters(self, ctx: Context, request: Request) -> Response:
        return ok(self.control.counters(reset=request.method == "DELETE"))


def routes(ctx: Context, control: MultiMailControl) -> list[Route]:
    """The ``/sandbox`` routes (see the module docstring)."""
    h = _ControlHandlers(control)
    handlers = [
        ("POST", "/sandbox/inbound", h.inbound),
        ("POST", "/sandbox/decide", h.decide),
        ("GET", "/sandbox/clock", h.get_clock),
        ("POST", "/sandbox/clock", h.set_clock),
        ("GET", "/sandbox/codes", h.list_codes),
        ("GET", "/sandbox/approval-codes", h.list_codes),
        ("GET", "/sandbox/upgrade-codes", h.upgrade_codes),
        ("POST", "/sandbox/suppress", h.suppress_address),
        ("POST", "/sandbox/signup", h.signup),
        ("GET", "/sandbox/sent", h.sent),
        ("GET", "/sandbox/seed", h.seed),
        ("GET", "/sandbox/counters", h.counters),
        ("DELETE", "/sandbox/counters", h.counters),
    ]
    return [open_route(ctx, method, p, handler, counted=False) for method, p, handler in handlers]


#: What ``POST /sandbox/inbound`` copies from its body onto the new email (its ``sender``
#: becomes the email's ``from``).
INBOUND_FIELDS = (
    "subject",
    "markdown",
    "spam_verdict",
    "spam_score",
    "dkim",
    "spf",
    "dmarc",
    "in_reply_to",
)


def inbound_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an email injected by ``POST /sandbox/inbound``."""
    fields = {name: body.get(name) for name in INBOUND_FIELDS}
    fields["from"] = body.get("sender")
    return fields


def move_clock(clock: Any, body: Mapping[str, Any]) -> None:
    """Apply a ``POST /sandbox/clock`` body (``offset`` first, then ``advance``, both in
    seconds) to a `SandboxClock`; anything else is a 400 and moves nothing."""
    if not (hasattr(clock, "advance") and hasattr(clock, "set_offset")):
        raise bad_request("This sandbox's clock cannot be moved (use a SandboxClock)")
    for name in ("advance", "offset"):
        value = body.get(name)
        # bool is an int to Python, but ``true`` seconds is a mistake, not a 1.
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise bad_request(f"{name} must be a number of seconds")
    if body.get("offset") is not None:
        clock.set_offset(body["offset"])
    if body.get("advance") is not None:
        clock.advance(body["advance"])


def _two_strings(message: str, first: Any, second: Any) -> tuple[str, str]:
    if not isinstance(first, str) or not isinstance(second, str):
        raise bad_request(message)
    return first, second


def _clock_view(ctx: Context) -> dict[str, Any]:
    offset = getattr(ctx.clock, "offset", None)
    return {"now": ctx.now(), "offset": offset}
