"""Where a download may be redirected (pure): only back to the API's own origin.

`MultiMailClient.fetch_url` follows redirects by hand, at most `MAX_REDIRECTS` hops. A
hop is followed only when its target has exactly the configured ``base_url``'s scheme,
host and port, and is https (plain http only when that origin is the machine itself, as
for the local sandbox). Anything else (another host, a cloud metadata address, an http
downgrade, a host that does not even parse) stops the download with `RedirectRefused`:
a server, or anything between it and us, must not steer the library's requests
elsewhere, and the answer of an internal address must never reach a model.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import httpx

from mm_assistants.multimail.errors import RedirectRefused
from mm_assistants.multimail.types import Call, Exchange, bare_url

#: Hops a download may take before it is refused (MultiMail's links need none).
MAX_REDIRECTS = 3
#: The answers that name a new location for the same GET.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

Origin = tuple[str, str, int | None]


def next_hop(call: Call, exchange: Exchange, hops: int, origin: Origin) -> Call | None:
    """The download's next request when ``exchange`` redirects ``call`` (after ``hops``
    hops), ``None`` when it is the answer; raises `RedirectRefused` for a hop that
    `redirect_target` refuses, or one hop too many. A hop keeps the call's ``authorized``:
    every hop is on the API's origin, and a keyless signed link stays keyless."""
    if not call.raw or exchange.status not in REDIRECT_STATUSES or exchange.location is None:
        return None
    target = redirect_target(exchange.location, call.url, origin)
    if target is None or hops >= MAX_REDIRECTS:
        why = "another origin" if target is None else f"more than {MAX_REDIRECTS} hops"
        raise RedirectRefused(
            f"{call.method} {call.path} -> {exchange.status}: a redirect to {why} is not followed",
            status=exchange.status,
            method=call.method,
            path=call.path,
            tool=call.tool,
        )
    return replace(call, url=str(target), path=shown_url(target))


def unreadable_location(call: Call) -> RedirectRefused | None:
    """The error for an answer whose redirect ``Location`` httpx cannot even parse or
    decode (a malformed IDNA host, a broken path): httpx reads it while it receives the
    answer, followed or not, and raises there. ``None`` when the request's own URL is
    what does not parse (the caller's error, raised as it is)."""
    if http_url(call.url) is None:
        return None
    return RedirectRefused(
        f"{call.method} {call.path}: a redirect to a location that does not parse is not followed",
        method=call.method,
        path=call.path,
        tool=call.tool,
    )


def http_url(text: str) -> httpx.URL | None:
    """``text`` parsed when it is an absolute http(s) URL with a host, else None (also
    for a host that does not decode, such as a malformed IDNA label)."""
    try:
        url = httpx.URL(text)
        host = url.host  # decoding a malformed IDNA host raises only here
    except (httpx.InvalidURL, UnicodeError, ValueError, TypeError):
        return None
    return url if url.scheme in ("http", "https") and host else None


def shown_url(url: httpx.URL) -> str:
    """``url`` as logs and errors show it: without userinfo and query (secrets live there)."""
    return bare_url(f"{url.scheme}://{url.netloc.decode()}{url.raw_path.decode()}")


def origin_of(url: httpx.URL) -> Origin:
    """``(scheme, host, port)``; httpx drops a default port, so ``:443`` equals none."""
    return (url.scheme, url.host, url.port)


def redirect_target(location: str, current: str, origin: Origin) -> httpx.URL | None:
    """The absolute URL ``location`` (maybe relative to ``current``) names, when a
    download may follow it to ``origin``; ``None`` when it may not, or does not parse.

    >>> redirect_target("/b?sig=1", "https://api.example/a", ("https", "api.example", None))
    URL('https://api.example/b?sig=1')
    >>> redirect_target("http://169.254.169.254/", "https://api.example/a",
    ...                 ("https", "api.example", None)) is None
    True
    """
    try:
        target = httpx.URL(current).join(location)
        where = origin_of(target)
    except (httpx.InvalidURL, UnicodeError, ValueError, TypeError):
        # A malformed host (bad IDNA, stray code points) is no origin at all.
        return None
    if target.userinfo or where != origin:
        return None
    if target.scheme != "https" and not is_loopback(target.host):
        return None
    return target


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
