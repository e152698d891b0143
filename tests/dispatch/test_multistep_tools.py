"""The two client-side tools in full: download_attachment's two steps and its bounds."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from mm_assistants.dispatch.multistep_tools import INLINE_LIMIT, attachment_output
from tests.dispatch.conftest import Harness, call

URL_STEP = "/v1/mailboxes/mbx_1/emails/em_1/attachments/a.pdf/url"
CHUNK = 4096


def link(api: respx.MockRouter) -> None:
    api.get(URL_STEP).respond(
        200, json={"download_url": "https://mm.test/files/a.pdf?sig=1", "expires_in_seconds": 300}
    )


def download(harness: Harness, **options: Any) -> tuple[Any, dict[str, Any]]:
    result = harness.run(
        call("download_attachment", {"email_id": "em_1", "filename": "a.pdf"}), **options
    )
    return result, json.loads(result.output)


class Chunks:
    """A body of ``count`` chunks that counts how many were read, for either client."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.read = 0

    def sync(self) -> Iterator[bytes]:
        for _ in range(self.count):
            self.read += 1
            yield b"x" * CHUNK

    async def asynchronous(self) -> AsyncIterator[bytes]:
        for chunk in self.sync():
            yield chunk


def test_a_large_file_is_not_read_past_the_inline_limit(
    harness: Harness, api: respx.MockRouter
) -> None:
    link(api)
    body = Chunks(256)  # 1 MiB, sent without a content-length
    stream = body.sync() if harness.mode == "sync" else body.asynchronous()
    api.get("/files/a.pdf").mock(return_value=httpx.Response(200, content=stream))
    result, output = download(harness)
    assert result.ok
    assert body.read <= INLINE_LIMIT // CHUNK + 2  # stopped just past 50 KB, not at 1 MiB
    assert "content_base64" not in output["untrusted"]  # the file is sender data
    assert output["download_url"] == "https://mm.test/files/a.pdf?sig=1"
    assert output["size_bytes"] is None  # unknown: neither read whole nor declared


def test_a_file_that_fits_50_kb_but_not_the_output_cap_goes_as_a_link(
    harness: Harness, api: respx.MockRouter
) -> None:
    link(api)
    api.get("/files/a.pdf").respond(200, content=b"x" * 40_000)  # 53,336 base64 characters
    result, output = download(harness)  # default cap: 48,000 characters
    assert not result.truncated  # never a cut (corrupt) base64 string
    assert "content_base64" not in output["untrusted"]  # the file is sender data
    assert output["size_bytes"] == 40_000
    assert "only files up to" in output["note"]
    result, output = download(harness, max_output_chars=100_000)
    assert base64.b64decode(output["untrusted"]["content_base64"]) == b"x" * 40_000


def test_an_inlined_file_is_whole_and_within_the_cap(
    harness: Harness, api: respx.MockRouter
) -> None:
    link(api)
    data = bytes(range(256)) * 100
    api.get("/files/a.pdf").respond(200, content=data, headers={"content-type": "image/png"})
    result, output = download(harness, max_output_chars=2_000 + 4 * len(data) // 3 + 1_000)
    assert len(result.output) <= 2_000 + 4 * len(data) // 3 + 1_000
    assert base64.b64decode(output["untrusted"]["content_base64"]) == data
    assert output["untrusted"]["content_type"] == "image/png"  # the sender declared it


def test_an_answer_without_a_download_url_is_an_api_error(
    harness: Harness, api: respx.MockRouter
) -> None:
    api.get(URL_STEP).respond(200, json={"url": "elsewhere"})
    files = api.get("/files/a.pdf").respond(200, content=b"x")
    result, output = download(harness)
    assert result.error_type == "api_error"
    assert "no download_url" in output["error"]["message"]
    assert not files.called


def test_an_expired_link_is_an_api_error(harness: Harness, api: respx.MockRouter) -> None:
    link(api)
    api.get("/files/a.pdf").respond(403, json={"error": "link expired"})
    result, output = download(harness)
    assert (result.error_type, result.http_status) == ("api_error", 403)
    assert output["error"]["message"] == "link expired"
    assert "sig=1" not in result.output  # the signed query never reaches the model


@pytest.mark.parametrize(
    ("content", "complete", "limit", "inlined"),
    [
        pytest.param(b"x" * INLINE_LIMIT, True, INLINE_LIMIT, True, id="exactly-50-kb"),
        pytest.param(b"x" * (INLINE_LIMIT + 1), True, INLINE_LIMIT, False, id="one-byte-more"),
        pytest.param(b"x" * 10, False, INLINE_LIMIT, False, id="cut-download"),
        pytest.param(b"x" * 10, True, 9, False, id="lower-limit"),
    ],
)
def test_attachment_output_inlines_only_whole_files_within_the_limit(
    content: bytes, complete: bool, limit: int, inlined: bool
) -> None:
    answer = attachment_output(
        "a.pdf", "https://u", 60, content, None, complete=complete, inline_limit=limit
    )
    assert ("content_base64" in answer) is inlined
    assert ("download_url" in answer) is not inlined
