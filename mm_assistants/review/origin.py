"""Who may talk to the review page, pure: the Host allow-list, the same-origin check and
the page token, for `mm_assistants.review.create_review_app` (and the sandbox's controls).

Three locks, each for one attack:

- **Host allow-list** (DNS rebinding). A page on ``attacker.example`` can make its own name
  resolve to 127.0.0.1; the browser then treats the review page as ``attacker.example``'s
  own, reads the queue and posts decisions. It still says ``Host: attacker.example``, so a
  server that answers only to its own names is out of reach. The default names are the
  loopback ones (``localhost``, ``127.0.0.1``, ``[::1]``, any port).
- **Same origin** (CSRF). A decision whose ``Origin`` is not the page's own, or whose
  ``Sec-Fetch-Site`` is not ``same-origin``, came from another page; a client that sends
  neither (curl, a test) is not a browser and is let through to the next lock.
- **Page token** (CSRF, again). Made per app (`new_token`), put into the served page, and
  required on every decision, compared in constant time: a page elsewhere cannot read it.

Example::

    hosts = allowed_hosts(["review.example.com", "*.ops.example.com"])
    host_allowed("review.example.com:443", hosts)                 # True
    cross_site({"origin": "https://evil.example", "host": "review.example.com"})
    # 'the decision came from https://evil.example, not from this page'
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

#: The names a page (or a sandbox) on this machine answers to by default.
LOOPBACK_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")

# a DNS name or an IPv4 address, optionally "*." in front; IPv6 is handled apart
_NAME = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$")
_IPV6 = re.compile(r"^[0-9a-f:.]+$")


def new_token() -> str:
    """A fresh random token: 32 bytes, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(32)


def tokens_match(given: str | None, expected: str) -> bool:
    """Whether ``given`` is ``expected``, in time that does not depend on where they differ."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def allowed_hosts(names: Iterable[str] | None) -> frozenset[str]:
    """``names`` checked and lower-cased (``None``: `LOOPBACK_HOSTS`). A name is a host
    name or address without scheme, port or path (``review.example.com``, ``[::1]``), a
    ``*.example.com`` wildcard for its subdomains, or ``*`` for any host (only behind a
    proxy that checks the Host itself). A malformed one is a ``ValueError``."""
    if names is None:
        return frozenset(LOOPBACK_HOSTS)
    if isinstance(names, str):
        raise TypeError("allowed_hosts is a list of host names, not one string")
    checked: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"an allowed host is a string, not {type(name).__name__}")
        text = name.strip().lower()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        if not (text == "*" or _NAME.match(text) or (":" in text and _IPV6.match(text))):
            raise ValueError(
                f"{name!r} is not a host name: give the name alone, such as "
                "'review.example.com' (no scheme, port or path)"
            )
        checked.add(text.rstrip("."))
    if not checked:
        raise ValueError("allowed_hosts is empty: no request could ever be answered")
    return frozenset(checked)


def host_name(host: str | None) -> str | None:
    """The name of a ``Host`` header without its port, lower-cased (``[::1]:80`` ->
    ``::1``); ``None`` when it is missing or malformed."""
    if not host:
        return None
    text = host.strip().lower()
    if text.startswith("["):
        name, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not _is_port(rest)):
            return None
    else:
        name, colon, port = text.partition(":")
        if colon and not port.isdigit():
            return None
    name = name.rstrip(".")
    if not name or not (_NAME.match(name) or (":" in name and _IPV6.match(name))):
        return None
    return name


def host_allowed(host: str | None, allowed: frozenset[str]) -> bool:
    """Whether a request with ``Host: host`` is for this page (see `allowed_hosts`)."""
    name = host_name(host)
    if name is None:
        return False
    if "*" in allowed or name in allowed:
        return True
    return any(pattern.startswith("*.") and name.endswith(pattern[1:]) for pattern in allowed)


def cross_site(headers: Mapping[str, str]) -> str | None:
    """Why a state-changing request did not come from the page itself, or ``None``.

    ``headers`` is case-insensitive or lower-cased (Starlette's are). The ``Origin`` must
    name the request's own ``Host`` (scheme left aside: a TLS proxy in front makes the two
    differ); a browser's ``Sec-Fetch-Site`` must be ``same-origin``.
    """
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() != "same-origin":
        return f"the decision came from another site (Sec-Fetch-Site: {fetch_site[:20]})"
    origin = headers.get("origin")
    if origin is None:
        return None
    host = (headers.get("host") or "").strip().lower()
    try:
        netloc = urlsplit(origin.strip()).netloc.lower()
    except ValueError:
        netloc = ""
    if not netloc or not host or netloc != host:
        return "the decision came from another origin, not from this page"
    return None


def _is_port(text: str) -> bool:
    return text.startswith(":") and text[1:].isdigit()
