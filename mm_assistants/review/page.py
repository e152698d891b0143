"""The review page's one HTML document, put together from the bundled ``page.html``,
``page.css`` and ``page.js`` (read with `importlib.resources`, cached), with the
Content-Security-Policy that allows exactly its own inline style and script.

Nothing of an email is ever in this document: the script fetches the queue as JSON and
sets every piece of it as text.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

_PARTS = ("page.html", "page.css", "page.js")


@dataclass(frozen=True)
class Page:
    """The document and the policy to serve it with."""

    html: str
    csp: str


@functools.cache
def review_page(refresh_ms: int) -> Page:
    """The page that refreshes the queue every ``refresh_ms`` milliseconds.

    Its ``{{token}}`` is left for the app to fill: the page is cached, the token is made
    per app (`mm_assistants.review.origin.new_token`)."""
    template, style, script = (_read(name) for name in _PARTS)
    html = (
        template.replace("{{style}}", style)
        .replace("{{script}}", script)
        .replace("{{refresh_ms}}", str(int(refresh_ms)))
    )
    # Hashes rather than 'unsafe-inline': were an email ever rendered as markup by mistake,
    # a script or style it carried still would not run.
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src '{_sha256(script)}'",
            f"style-src '{_sha256(style)}'",
            "connect-src 'self'",
            "img-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return Page(html=html, csp=csp)


def _read(name: str) -> str:
    resource = resources.files("mm_assistants.review").joinpath(name)
    try:
        return resource.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RuntimeError(
            f"the review page's {name} is missing from the installed package; reinstall "
            "mm-assistants"
        ) from exc


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")
