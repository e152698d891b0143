"""Signing up with a proof of work: ``POST /v1/account/challenge`` and ``POST /v1/account``.

Neither needs a key. The challenge is ALTCHA-style (see `altcha`), signed with the
sandbox's own secret, and expires after ``settings.challenge_ttl``; its ``maxnumber`` is
``settings.pow_maxnumber`` (small, so tests solve it fast; MultiMail's is larger).
``POST /v1/account`` checks the solution for real (algorithm, signature, hash, expiry,
single use), then the agreements and fields, then the slug (409 when taken), and answers
``{"status": "confirmation_sent"}``; a new account is an unconfirmed ``starter`` tenant
whose operator gets a ``confirm_account`` code (`routes_signup.create_signup`).

No enumeration of accounts: every check runs, in the same order, whether or not the
oversight email already has an account, so the answer (status and body) is the same for
both; only then does a known email create nothing and mail no code. A solution is used up
by every attempt that passed the proof-of-work check, whatever is wrong after it: one solve
buys one question, never a series of probes (a 409 or 400 means solving a new challenge).

Used challenges are remembered (kind ``pow_used``, with their expiry) only while they could
still verify: each challenge and each signup forgets the expired ones among the
`FORGET_BATCH` oldest (`forget_expired`). A challenge is refused as expired under the same
rule (``now > expires``) before the reuse check, so forgetting one never lets it through
again, unless the sandbox clock is moved back past its expiry (a test's deliberate act).
The oldest entries are the ones used first, and all those used more than
``challenge_ttl`` ago have expired, so the table holds about the last ``challenge_ttl``'s
signups, whatever the sandbox's age.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.multimail_api import altcha
from mm_assistants.sandbox.multimail_api.drafts import is_address
from mm_assistants.sandbox.multimail_api.errors import bad_request
from mm_assistants.sandbox.multimail_api.routes_signup import create_signup, slug_taken
from mm_assistants.sandbox.multimail_api.routing import Context, json_body, ok, open_route

#: The initial modes a signup may choose; looser ones need the upgrade flow later.
SIGNUP_MODES = ("gated_all", "gated_send", "monitored")
AGREEMENTS = ("accepted_tos", "accepted_operator_agreement", "accepted_anti_spam_policy")
MAX_OPERATOR_NAME = 200
SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_OPTIONAL_TEXT = {"physical_address": 2000, "use_case": 200}
#: How many of the oldest used challenges one call looks at to forget (bounded work; it
#: only needs to outpace the one entry a signup adds).
FORGET_BATCH = 16
CONFIRMATION_SENT = {
    "status": "confirmation_sent",
    "message": "Check your email for the activation code.",
}


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        open_route(ctx, "POST", "/v1/account/challenge", request_challenge),
        open_route(ctx, "POST", "/v1/account", create_account),
    ]


async def request_challenge(ctx: Context, request: Request) -> Response:
    """``POST /v1/account/challenge {oversight_email?}``: ``{algorithm, challenge,
    maxnumber, salt, signature}`` (the email may only shape difficulty; here it does not)."""
    email = (await json_body(request)).get("oversight_email")
    if email is not None and not (isinstance(email, str) and is_address(email)):
        raise bad_request("oversight_email must be an email address")
    forget_expired(ctx)
    expires = ctx.now() + ctx.settings.challenge_ttl
    return ok(
        altcha.make_challenge(
            ctx.store.secret(), maxnumber=ctx.settings.pow_maxnumber, expires=expires
        )
    )


async def create_account(ctx: Context, request: Request) -> Response:
    """``POST /v1/account``: see the module docstring; 400 for a bad, expired or reused
    proof of work or a bad field, 409 (with ``suggestions``) for a taken slug."""
    body = await json_body(request)
    solution = body.get("pow_solution")
    if not isinstance(solution, dict):
        raise bad_request("pow_solution is required: solve POST /v1/account/challenge first")
    problem = altcha.problem(
        solution, ctx.store.secret(), maxnumber=ctx.settings.pow_maxnumber, now=ctx.now()
    )
    if problem is not None:
        raise bad_request(problem)
    # one transaction from the reuse check to marking it used: nothing can spend it twice
    with ctx.store.transaction():
        if ctx.store.get("pow_used", solution["challenge"]) is not None:
            raise bad_request("Proof-of-work challenge already used; request a new one")
        expires = altcha.expiry(solution["salt"])  # not None: `altcha.problem` checked it
        used = {"id": solution["challenge"], "at": ctx.now(), "expires": expires}
        ctx.store.put("pow_used", used)
        forget_expired(ctx)
    fields = signup_fields(body)
    with ctx.store.transaction():
        tenants = ctx.store.children("tenants")
        taken = {t["slug"] for t in tenants}
        # the slug is checked for a known oversight email too, or its 200 would tell them apart
        if fields["slug"] is not None and fields["slug"] in taken:
            raise slug_taken(fields["slug"], taken)
        known = {t["oversight_email"].lower() for t in tenants}
        if fields["oversight_email"].lower() not in known:
            create_signup(
                ctx,
                fields["operator_name"],
                fields["oversight_email"],
                slug=fields["slug"],
                oversight_mode=fields["oversight_mode"],
                plan="starter",
                profile={k: v for k, v in fields.items() if k in _OPTIONAL_TEXT},
            )
    return ok(CONFIRMATION_SENT)


def forget_expired(ctx: Context) -> int:
    """Forget the expired used challenges among the `FORGET_BATCH` oldest (module
    docstring); how many were forgotten."""
    with ctx.store.transaction():
        oldest = ctx.store.first("pow_used", FORGET_BATCH)
        gone = expired_uses(oldest, ctx.now(), ctx.settings.challenge_ttl)
        for challenge in gone:
            ctx.store.delete("pow_used", challenge, cascade=False)
    return len(gone)


def expired_uses(used: list[dict[str, Any]], now: float, ttl: float) -> list[str]:
    """The challenges among ``used`` (``{id, at, expires?}``) that can no longer verify:
    ``now`` is past their expiry, the rule `altcha.problem` refuses by."""
    # an entry stored before expiries were kept: its challenge was issued at most ``ttl``
    # before it was used, so it expired by ``at + ttl``
    ends = [u["at"] + ttl if u.get("expires") is None else u["expires"] for u in used]
    return [u["id"] for u, end in zip(used, ends, strict=True) if now > end]


def signup_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The checked fields of a signup body (400 names the first wrong one)."""
    for agreement in AGREEMENTS:
        if body.get(agreement) is not True:
            raise bad_request(f"{agreement} must be true")
    name = body.get("operator_name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_OPERATOR_NAME:
        raise bad_request(f"operator_name must be 1 to {MAX_OPERATOR_NAME} characters")
    email = body.get("oversight_email")
    if not isinstance(email, str) or not is_address(email):
        raise bad_request("oversight_email must be an email address")
    mode = body.get("oversight_mode", "gated_send")
    if mode not in SIGNUP_MODES:
        raise bad_request(f"oversight_mode must be one of {list(SIGNUP_MODES)}")
    if body.get("email_use_type", "transactional") != "transactional":
        raise bad_request("email_use_type: only 'transactional' is accepted")
    slug = body.get("slug")
    if slug is not None and not (isinstance(slug, str) and SLUG_PATTERN.match(slug)):
        raise bad_request("slug must be lower-case letters, digits and inner hyphens (1-63)")
    fields: dict[str, Any] = {
        "operator_name": name,
        "oversight_email": email,
        "oversight_mode": mode,
    }
    for key, limit in _OPTIONAL_TEXT.items():
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise bad_request(f"{key} must be a string of at most {limit} characters")
        if value is not None:
            fields[key] = value
    return {**fields, "slug": slug}
