"""The known quirks themselves (`conformance.quirks` reads them).

Two kinds, each with the sign a failure must show to be known:

- the sandbox deliberately does not emulate an operation (it answers 404 with "The sandbox
  does not emulate ..." and why: a browser page, a payment provider's callback, DNS);
- MultiMail's OpenAPI document is wrong or silent (error statuses it does not list, an
  operation without responses, an ambiguous ``oneOf``), where the sandbox follows MultiMail's
  own client and its real answers.

And one tolerated rule (`TOLERATED_400`), applied inside the schemathesis check.
"""

from __future__ import annotations

ST = "schemathesis"
NOT_EMULATED = "The sandbox does not emulate"


def _operator_code() -> tuple[str, str]:
    return (
        "Received: 202",
        "the document lists no 202; MultiMail's own client documents the operator-code step "
        "(202 pending_approval, then the call again with approval_code)",
    )


def _not_emulated(why: str) -> tuple[str, str]:
    return NOT_EMULATED, f"not emulated: {why}"


#: Not a failure but counted in each operation's note: the document lists 400 for only a few
#: operations, while MultiMail refuses any request its validation rejects with 400
#: ``{"error": ...}``; failing on it would stop schemathesis at an operation's first bad
#: input and leave its other answers unchecked.
TOLERATED_400 = "the document omits the 400 MultiMail answers invalid input with"

#: ``(client, item) -> (sign, reason)``.
QUIRKS: dict[tuple[str, str], tuple[str, str]] = {
    # -- operations the sandbox deliberately does not emulate --------------------------------
    (ST, "POST /v1/operator/*"): _not_emulated("operator dashboard sessions (a browser login)"),
    (ST, "GET /v1/operator/session"): _not_emulated("operator dashboard sessions"),
    (ST, "POST /v1/support"): _not_emulated("support messages go to MultiMail's staff"),
    (ST, "POST /v1/webhooks/postmark*"): _not_emulated("Postmark's own callbacks"),
    (ST, "POST /v1/billing/crypto-checkout"): _not_emulated("Coinbase (crypto) payments"),
    (ST, "POST /v1/billing/coinbase-webhook"): _not_emulated("Coinbase (crypto) payments"),
    (ST, "POST /v1/billing/stripe-webhook"): _not_emulated("Stripe's own callback"),
    (ST, "POST /v1/billing/pricing-checkout"): _not_emulated("the pricing page's checkout"),
    (ST, "POST /v1/funnel/event"): _not_emulated("a marketing analytics beacon"),
    (ST, "GET /v1/confirm*"): _not_emulated("a browser redirect; POST /v1/confirm is emulated"),
    (ST, "POST /v1/domains*"): _not_emulated("custom domains need DNS"),
    (ST, "GET /v1/domains/{id}"): _not_emulated("custom domains need DNS"),
    (ST, "DELETE /v1/domains/{id}"): _not_emulated("custom domains need DNS"),
    (ST, "GET /v1/export"): _not_emulated("the bulk export"),
    (ST, "GET /v1/unsubscribe/{token}"): _not_emulated("recipients' unsubscribe pages"),
    (ST, "POST /v1/unsubscribe/{token}"): _not_emulated("recipients' unsubscribe pages"),
    (ST, "GET /v1/approve/{token}"): _not_emulated("the hosted approval page"),
    (ST, "POST /v1/approve/{token}"): _not_emulated("the hosted approval page"),
    # -- MultiMail's document is silent or wrong ----------------------------------------------
    (ST, "POST /v1/mailboxes"): _operator_code(),
    (ST, "POST /v1/api-keys"): _operator_code(),
    (ST, "POST /v1/webhooks"): _operator_code(),
    (ST, "PATCH /v1/mailboxes/{mailboxId}"): (
        "Received: 403",
        "the document lists no 403; MultiMail refuses an oversight upgrade here (its client: "
        "upgrades go through request-upgrade)",
    ),
    (ST, "POST /v1/confirm"): (
        "Documented: [",
        "the document lists no responses at all for POST /v1/confirm",
    ),
    (ST, "GET /v1/mailboxes/{mailboxId}/emails/{emailId}/attachments/{filename}"): (
        "Documented: [",
        "the document lists no responses at all for the attachment download",
    ),
    (ST, "GET /v1/usage"): (
        "more than one of the schemas listed in the 'oneOf'",
        "the document's UsageSummary and UsageDaily require no fields, so every answer "
        "matches both branches of its oneOf",
    ),
}
