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

import httpx

#: Hops a download may take before it is refused (MultiMail's links need none).
MAX_REDIRECTS = 3
#: The answers that name a new location for the same GET.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

Origin = tuple[str, str, int | None]


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
