"""The sandbox's stand-ins for Stripe's pages, pure: the HTML a person sees on opening a
``checkout_url`` or a ``portal_url`` (see `routes_billing`).

The pages need no script and no style: the checkout page shows what is being bought and a
form whose ``POST`` (to the page's own URL, so the token never appears in the markup) pays;
the portal page shows the tenant's billing. Every value is escaped, and the headers forbid
scripts, framing (a framed page could trick a click on "Pay"), caching and referrers (the
URL is the capability). A client that does not ask for HTML (a test, ``httpx``) gets the
same content as JSON (`wants_html`).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

#: Headers of every billing page.
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def wants_html(accept: str | None) -> bool:
    """Whether a request's ``Accept`` asks for a page (a browser's does; ``*/*`` does not)."""
    return any(
        part.split(";", 1)[0].strip().lower() == "text/html" for part in (accept or "").split(",")
    )


def checkout_page(session: Mapping[str, Any]) -> str:
    """The page of a checkout session ``{plan, interval, status}``: a form while it is
    open, what was paid once it is complete (also the answer to the form's ``POST``)."""
    what = f"{session['plan']} plan, billed {session['interval']}"
    if session["status"] == "open":
        body = (
            f"<p>You are subscribing to the {escape(what)}.</p>\n"
            '<form method="post"><button type="submit">Pay (sandbox)</button></form>'
        )
    else:
        body = f"<p>Paid: the {escape(what)} is active.</p>"
    return _page("Sandbox checkout", body)


def portal_page(view: Mapping[str, Any]) -> str:
    """The portal page of a billing view ``{plan, customer, subscription}``."""
    rows = [("Plan", view["plan"]), ("Customer", view["customer"])]
    subscription = view["subscription"]
    if subscription is None:
        rows.append(("Subscription", "none"))
    else:
        ends = "cancels" if subscription["cancel_at_period_end"] else "renews"
        rows += [
            ("Subscription", f"{subscription['plan']}, billed {subscription['interval']}"),
            (f"Period ends ({ends})", subscription["current_period_end"]),
        ]
    table = "\n".join(
        f"<tr><th>{escape(name)}</th><td>{escape(str(value))}</td></tr>" for name, value in rows
    )
    return _page("Sandbox billing portal", f"<table>\n{table}\n</table>")


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n"
        f"<body><h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )
