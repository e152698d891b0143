"""Keyless lookups: ``GET /v1/slug-check/{slug}`` and ``GET /.well-known/multimail-signing-key``.

MultiMail signs ``X-MultiMail-Identity`` with an ECDSA P-256 key and publishes the public
half here. The sandbox signs the same claims with HMAC-SHA256 under its own secret (see
`signing.identity_claim`): ``cryptography`` is not a dependency of this library, and an
HMAC key cannot be published without letting anyone forge. So the document says which
algorithm the sandbox uses and carries no key; a test verifies a claim with
`MultiMailControl.read_identity` instead.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.multimail_api.routes_challenge import SLUG_PATTERN
from mm_assistants.sandbox.multimail_api.routes_signup import free_slugs
from mm_assistants.sandbox.multimail_api.routing import Context, ok, open_route, path
from mm_assistants.sandbox.multimail_api.tenants import DOMAIN

#: Slugs MultiMail keeps for itself (a few; the real list is longer and not published).
RESERVED_SLUGS = frozenset({"admin", "api", "app", "mail", "support", "www", "multimail"})
SIGNING_KEY_DOCUMENT = {
    "algorithm": "HMAC-SHA256",
    "public_key": None,
    "key_id": "sandbox-hmac-1",
    "header": "X-MultiMail-Identity",
    "note": (
        "The sandbox signs identity claims with a private HMAC key, not MultiMail's "
        "published ECDSA P-256 key; verify them with the sandbox's control "
        "(MultiMailControl.read_identity)."
    ),
}


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        open_route(ctx, "GET", "/v1/slug-check/{slug}", slug_check),
        open_route(ctx, "GET", "/.well-known/multimail-signing-key", signing_key),
    ]


async def slug_check(ctx: Context, request: Request) -> Response:
    """``GET /v1/slug-check/{slug}``: ``{available, slug, address_preview}``, with a
    ``reason`` and free ``suggestions`` when it is taken, reserved or malformed."""
    slug = path(request, "slug").lower()
    answer: dict[str, object] = {"slug": slug, "address_preview": f"you@{slug}.{DOMAIN}"}
    if not SLUG_PATTERN.match(slug):
        return ok({**answer, "available": False, "reason": "invalid", "suggestions": []})
    taken = {tenant["slug"] for tenant in ctx.store.children("tenants")}
    if slug in RESERVED_SLUGS or slug in taken:
        reason = "reserved" if slug in RESERVED_SLUGS else "taken"
        suggestions = free_slugs(slug, taken | RESERVED_SLUGS | {slug})
        return ok({**answer, "available": False, "reason": reason, "suggestions": suggestions})
    return ok({**answer, "available": True})


async def signing_key(ctx: Context, request: Request) -> Response:
    """``GET /.well-known/multimail-signing-key``: the algorithm, and no public key (see the
    module docstring)."""
    return ok(SIGNING_KEY_DOCUMENT)
