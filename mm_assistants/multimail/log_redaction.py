"""Keep signed URLs out of httpx's own log lines.

httpx logs every request at INFO as ``HTTP Request: GET https://host/path?query "HTTP/1.1
200 OK"``. MultiMail's attachment links carry their signature in the query, so a
deployment that logs at INFO would write working download links into its log store. The
clients install `SignedUrlFilter` on the ``httpx`` logger (once per process;
idempotent): every URL in those records keeps its scheme, host and path and loses
its query and fragment, which become ``?<redacted>``. The filter changes the record, never
drops it, so request lines stay useful for debugging.

The filter sits on the loggers, not on a handler, so it holds whichever handlers the
application configures. It also covers httpx clients that are not the library's (the
OpenAI SDK's, for one): their query strings may be just as secret.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import httpx

#: The loggers whose records carry request URLs. httpcore's DEBUG trace names hosts and
#: ports, never a URL's query, and a filter on a parent logger would not see its children's
#: records anyway.
LOGGER_NAMES = ("httpx",)
REDACTED_QUERY = "?<redacted>"

# An absolute URL up to the first white space or quote; the query (and fragment) part is
# what gets replaced.
_URL = re.compile(r"""(?P<base>https?://[^\s"'<>?#]*)(?P<rest>[?#][^\s"'<>]*)""", re.IGNORECASE)
_install_lock = threading.Lock()


def redact_url(url: str) -> str:
    """``url`` with its query and fragment replaced by ``?<redacted>``; other text is kept.

    >>> redact_url("https://api.multimail.dev/files/a.pdf?token=abc&expires=9")
    'https://api.multimail.dev/files/a.pdf?<redacted>'
    """
    return _URL.sub(lambda match: match.group("base") + REDACTED_QUERY, url)


def _clean(value: Any) -> Any:
    if isinstance(value, httpx.URL):
        return redact_url(str(value))
    if isinstance(value, str):
        return redact_url(value)
    return value


class SignedUrlFilter(logging.Filter):
    """Rewrites the URLs in a record's message and arguments without their query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_url(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _clean(arg) for key, arg in record.args.items()}
        return True


def install_log_redaction() -> None:
    """Put one `SignedUrlFilter` on each logger of `LOGGER_NAMES` (a second call adds none)."""
    with _install_lock:
        for name in LOGGER_NAMES:
            logger = logging.getLogger(name)
            if not any(isinstance(known, SignedUrlFilter) for known in logger.filters):
                logger.addFilter(SignedUrlFilter())
