"""download_attachment in full: MultiMail's link answer, the keyless signed link, the
origin guard, the inline bound, and the link never reaching the model."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from mm_assistants.dispatch.attachments import INLINE_LIMIT, attachment_output, same_origin
from tests.dispatch.conftest import KEY, Harness, call

URL_STEP = "/v1/mailboxes/mbx_1/emails/em_1/attachments/a.pdf/url"
BYTE_ROUTE = "/v1/mailboxes/mbx_1/emails/em_1/attachments/a.pdf"
SIGNED = "https://mm.test/v1/downloads/a.pdf?token=tok.sig123"
CHUNK = 4096


def link(api: respx.MockRouter, url: str = SIGNED, size: int | None = 10, **more: Any) -> None:
    answer = {"url": url, "filename": "a.pdf", "content_type": "application/pdf"}
    answer |= {"expires_in": 3600, **more}
    if size is not None:
        answer["size_bytes"] = size
    api.get(URL_STEP).respond(200, json=answer)


def download(harness: Harness, **options: Any) -> tuple[Any, dict[str, Any]]:
    result = harness.run(
        call("download_attachment", {"email_id": "em_1", "filename": "a.pdf"}), **options
    )
    return result, json.loads(result.output)


def test_a_small_file_comes_inline_from_the_signed_link_without_the_key(
    harness: Harness, api: respx.MockRouter
) -> None:
    link(api)
    files = api.get("/v1/downloads/a.pdf").respond(200, content=b"%PDF-1")
    result, output = download(harness)
    assert result.ok
    assert base64.b64decode(output["untrusted"]["content_base64"]) == b"%PDF-1"
    assert output["untrusted"]["content_type"] == "application/pdf"  # MultiMail's declaration
    sent = files.calls.last.request
    assert "authorization" not in sent.headers  # the key never goes to a link it was given
    assert sent.url.params["token"] == "tok.sig123"
    assert "tok.sig123" not in result.output
    assert "downloads" not in result.output


def test_a_link_to_another_host_is_not_followed(harness: Harness, api: respx.MockRouter) -> None:
    link(api, url="https://attacker.example/steal?token=x")
    byte_route = api.get(BYTE_ROUTE).respond(200, content=b"data")
    with respx.mock(assert_all_called=False) as elsewhere:
        foreign = elsewhere.get(host="attacker.example").respond(200, content=b"evil")
        result, output = download(harness)
    assert not foreign.called
    # read from the API's own byte route instead, with the key, as MultiMail's client does
    assert byte_route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    assert base64.b64decode(output["untrusted"]["content_base64"]) == b"data"
    assert "attacker" not in result.output


def test_a_file_declared_too_large_is_described_and_not_fetched(
    harness: Harness, api: respx.MockRouter
) -> None:
    link(api, size=INLINE_LIMIT + 1)
    files = api.get("/v1/downloads/a.pdf").respond(200, content=b"x")
    result, output = download(harness)
    assert result.ok
    assert not files.called
    assert output["size_bytes"] == INLINE_LIMIT + 1
    assert "content_base64" not in output["untrusted"]
    assert "only files up to 51200 bytes" in output["note"]
    assert "token" not in result.output
    assert "https://" not in result.output


def test_an_undeclared_large_file_is_not_read_past_the_inline_limit(
    harness: Harness, api: respx.MockRouter
) -> None:
    link(api, size=None)
    body = Chunks(256)  # 1 MiB, sent without a content-length
    stream = body.sync() if harness.mode == "sync" else body.asynchronous()
    api.get("/v1/downloads/a.pdf").mock(return_value=httpx.Response(200, content=stream))
    result, output = download(harness)
    assert result.ok
    assert body.read <= INLINE_LIMIT // CHUNK + 2  # stopped just past 50 KB, not at 1 MiB
    assert "content_base64" not in output["untrusted"]
    assert output["size_bytes"] is None  # unknown: neither read whole nor declared
    assert "token" not in result.output


def test_a_file_that_fits_50_kb_but_not_the_output_cap_is_described(
    harness: Harness, api: respx.MockRouter
) -> None:
    link(api, size=40_000)
    api.get("/v1/downloads/a.pdf").respond(200, content=b"x" * 40_000)  # 53,336 base64 chars
    result, output = download(harness)  # default cap: 48,000 characters
    assert not result.truncated  # never a cut (corrupt) base64 string
    assert "content_base64" not in output["untrusted"]
    assert output["size_bytes"] == 40_000
    assert "only files up to" in output["note"]
    result, output = download(harness, max_output_chars=100_000)
    assert base64.b64decode(output["untrusted"]["content_base64"]) == b"x" * 40_000


def test_an_answer_without_a_url_is_an_api_error(harness: Harness, api: respx.MockRouter) -> None:
    # the spelling this library read before MultiMail's own client showed the real one
    api.get(URL_STEP).respond(200, json={"download_url": SIGNED, "expires_in_seconds": 60})
    files = api.get("/v1/downloads/a.pdf").respond(200, content=b"x")
    result, output = download(harness)
    assert result.error_type == "api_error"
    assert "no download link" in output["error"]["message"]
    assert not files.called


@pytest.mark.parametrize("status", [403, 410])
def test_a_refused_link_is_an_api_error_without_the_token(
    harness: Harness, api: respx.MockRouter, status: int
) -> None:
    link(api)
    api.get("/v1/downloads/a.pdf").respond(status, json={"error": "Download link expired"})
    result, output = download(harness)
    assert (result.error_type, result.http_status) == ("api_error", status)
    assert output["error"]["message"] == "Download link expired"
    assert "tok.sig123" not in result.output


@pytest.mark.parametrize(
    ("url", "same"),
    [
        pytest.param("https://mm.test/v1/downloads/a?token=t", True, id="same"),
        pytest.param("https://mm.test:443/x", True, id="default-port"),
        pytest.param("http://mm.test/x", False, id="scheme"),
        pytest.param("https://mm.test:8443/x", False, id="port"),
        pytest.param("https://mm.test.attacker.example/x", False, id="suffix-host"),
        pytest.param("https://user:pw@mm.test/x", False, id="userinfo"),
        pytest.param("/v1/downloads/a", False, id="relative"),
        pytest.param("javascript:alert(1)", False, id="scheme-js"),
        pytest.param("https://[::1", False, id="malformed"),
    ],
)
def test_same_origin(url: str, same: bool) -> None:
    assert same_origin(url, "https://mm.test") is same


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
    answer = attachment_output("a.pdf", content, None, complete=complete, inline_limit=limit)
    assert ("content_base64" in answer) is inlined
    assert ("note" in answer) is not inlined
    assert not any("url" in key for key in answer)


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
