"""``download_attachment``'s decisions (pure): what to fetch, with or without the key, and
what the model reads.

The tool's first request (``GET .../attachments/{filename}/url``) answers as MultiMail's
own client reads it: ``{url, filename, size_bytes, content_type, expires_in}``, where
``url`` is a signed, expiring link that needs no API key. That link is a credential (anyone
holding it can fetch the file), so it never reaches the model: the dispatcher fetches a
small file itself and inlines it, and a file too large to inline is described without a
link. Fetching is guarded both ways:

- the key never goes to the signed link (it needs none, and a URL the server named is not
  a place to send a credential);
- a link to any origin other than the API's own is not followed at all (a server, or
  anything between it and us, must not steer the library's requests elsewhere); the file
  is then read from the API's authenticated byte route, built here from the tool's own
  request path, as MultiMail's own client does for small files. A link whose host does
  not even parse (bad IDNA, stray code points) counts as another origin;
- a redirect is followed only back to the API's origin, at most 3 hops, and without the
  key on any hop of the signed link (`MultiMailClient.fetch_url`); one that leads anywhere
  else ends the download, and the file is described without its content
  (`DownloadPlan.answer_not_followed`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from mm_assistants.dispatch.policy import dumps
from mm_assistants.dispatch.shaping import shape_output
from mm_assistants.multimail import ApiResponse
from mm_assistants.multimail.errors import MultiMailError
from mm_assistants.tools import RequestSpec

#: MultiMail's own client inlines files up to 50 KB; larger ones are only described.
INLINE_LIMIT = 50 * 1024
_URL_SUFFIX = "/url"


@dataclass(frozen=True)
class DownloadPlan:
    """What to do after the first step: fetch ``source`` (``send_key`` says whether the
    key goes along) or, with ``source=None``, nothing (the file is too large to inline).

    ``size_bytes`` and ``content_type`` are what MultiMail declared for the file.
    """

    filename: str
    size_bytes: int | None
    content_type: str | None
    source: str | None
    send_key: bool

    def answer_without_file(self) -> dict[str, Any]:
        """The answer for a file too large to inline: what it is, and no link."""
        return _described(self.filename, self.size_bytes, self.content_type, INLINE_LIMIT)

    def answer_not_followed(self) -> dict[str, Any]:
        """The answer when the download was redirected off the API's origin: the file
        described, its content not fetched from where the redirect pointed."""
        answer = _described(self.filename, self.size_bytes, self.content_type, INLINE_LIMIT)
        answer["note"] = (
            "not inlined: MultiMail's download was redirected to another address, which is"
            " not followed. The file stays in the mailbox; tell the user it is there (by"
            " name and size) rather than a link."
        )
        return answer

    def answer(self, file: ApiResponse, max_output_chars: int) -> tuple[int, dict[str, Any]]:
        """The answer once ``file`` was fetched: (status, answer).

        The bytes are inlined only when the whole output still fits ``max_output_chars``:
        base64 cut by the output bound would be a corrupt file, so a file that does not fit
        is described instead.
        """
        content_type = self.content_type or file.headers.get("content-type")
        options: dict[str, Any] = {"complete": not file.truncated, "declared": self.size_bytes}
        answer = attachment_output(self.filename, file.content, content_type, **options)
        if "content_base64" in answer:
            text = dumps(shape_output("download_attachment", answer))
            if len(text) > max_output_chars:
                room = max(max_output_chars - (len(text) - len(answer["content_base64"])), 0)
                fits = room // 4 * 3  # base64 spends 4 characters on every 3 bytes
                answer = attachment_output(
                    self.filename, file.content, content_type, inline_limit=fits, **options
                )
        return file.status, answer


def plan_download(data: Any, request: RequestSpec, base_url: str, filename: str) -> DownloadPlan:
    """The plan for the first step's answer ``data`` (``request`` asked for it;
    ``base_url`` is the client's API root).

    An answer without a ``url`` is MultiMail's fault, not the model's: it raises a
    `MultiMailError`, which the dispatcher reports as an ``api_error`` output.
    """
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url:
        raise MultiMailError(
            "MultiMail's answer has no download link for this attachment; try again later",
            method=request.method,
            path=request.path,
            tool=request.tool,
        )
    size = data.get("size_bytes")
    size = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None
    kind = data.get("content_type")
    kind = kind if isinstance(kind, str) and kind else None
    if size is not None and size > INLINE_LIMIT:
        return DownloadPlan(filename, size, kind, source=None, send_key=False)
    if same_origin(url, base_url):
        return DownloadPlan(filename, size, kind, source=url, send_key=False)
    # Not followed: the authenticated byte route under the API's own root instead.
    return DownloadPlan(filename, size, kind, source=file_path(request), send_key=True)


def same_origin(url: str, base_url: str) -> bool:
    """Whether ``url`` is an http(s) URL on ``base_url``'s scheme, host and port."""
    try:
        target, root = httpx.URL(url), httpx.URL(base_url)
        if target.scheme not in ("http", "https") or target.userinfo:
            return False
        # .host decodes IDNA: a malformed host (xn--pi-7ba) raises here, not at parse time
        return (target.scheme, target.host, target.port) == (root.scheme, root.host, root.port)
    except (httpx.InvalidURL, TypeError, UnicodeError, ValueError):
        return False


def file_path(request: RequestSpec) -> str:
    """The byte route of the attachment ``request`` asked a link for (``.../{filename}``),
    relative to the API root."""
    if not request.path.endswith(_URL_SUFFIX):
        raise ValueError(f"not an attachment link request: {request.path!r}")
    return request.path[: -len(_URL_SUFFIX)]


def attachment_output(
    filename: str,
    content: bytes,
    content_type: str | None,
    *,
    complete: bool = True,
    declared: int | None = None,
    inline_limit: int = INLINE_LIMIT,
) -> dict[str, Any]:
    """Inline base64 up to ``inline_limit`` bytes (50 KB) of a wholly read file; otherwise
    the file described (name, size, type) without its bytes."""
    size = len(content) if complete else declared
    if complete and len(content) <= inline_limit:
        answer: dict[str, Any] = {"filename": filename, "size_bytes": size}
        if content_type:
            answer["content_type"] = content_type
        answer["content_base64"] = base64.b64encode(content).decode("ascii")
        return answer
    return _described(filename, size, content_type, inline_limit)


def _described(
    filename: str, size: int | None, content_type: str | None, limit: int
) -> dict[str, Any]:
    answer: dict[str, Any] = {"filename": filename, "size_bytes": size}
    if content_type:
        answer["content_type"] = content_type
    answer["note"] = (
        f"not inlined: only files up to {limit} bytes fit in this output. The file stays "
        "in the mailbox; tell the user it is there (by name and size) rather than a link."
    )
    return answer
