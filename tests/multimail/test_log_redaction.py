"""httpx's own INFO request lines never carry a signed URL's token."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from mm_assistants.multimail.log_redaction import (
    SignedUrlFilter,
    install_log_redaction,
    redact_url,
)
from tests.multimail.conftest import Runner

TOKEN = "sig_0f9e8d7c6b5a_do_not_log"


async def test_a_download_link_is_logged_without_its_token(
    runner: Runner, api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    api.get("/files/report.pdf").respond(200, content=b"%PDF")
    with caplog.at_level(logging.INFO, logger="httpx"):
        await runner.call("fetch_url", f"https://mm.test/files/report.pdf?token={TOKEN}&x=1")
    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert lines, "httpx logged no request line: the test would prove nothing"
    assert all(TOKEN not in line for line in lines)
    assert any("https://mm.test/files/report.pdf?<redacted>" in line for line in lines)


async def test_a_url_without_query_is_logged_as_it_is(
    runner: Runner, api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    api.get("/v1/account").respond(200, json={})
    with caplog.at_level(logging.INFO, logger="httpx"):
        await runner.call("request", "GET", "/v1/account")
    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert any('GET https://mm.test/v1/account "HTTP/1.1 200 OK"' in line for line in lines)


def test_installing_twice_adds_one_filter() -> None:
    install_log_redaction()
    install_log_redaction()
    filters = logging.getLogger("httpx").filters
    assert sum(isinstance(f, SignedUrlFilter) for f in filters) == 1


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("https://a.test/f?t=1", "https://a.test/f?<redacted>", id="query"),
        pytest.param("http://a.test/f#frag", "http://a.test/f?<redacted>", id="fragment"),
        pytest.param(
            'GET https://a.test/x?sig=9 "HTTP/1.1 200 OK"',
            'GET https://a.test/x?<redacted> "HTTP/1.1 200 OK"',
            id="in-a-line",
        ),
        pytest.param("HTTPS://A.test/?k=v", "HTTPS://A.test/?<redacted>", id="upper-scheme"),
        pytest.param("https://a.test/plain", "https://a.test/plain", id="no-query"),
        pytest.param("not a url ?x=1", "not a url ?x=1", id="no-url"),
    ],
)
def test_redact_url(text: str, shown: str) -> None:
    assert redact_url(text) == shown


def test_the_filter_cleans_dict_arguments_and_urls() -> None:
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "%(u)s", None, None)
    record.args = {"u": httpx.URL(f"https://a.test/f?token={TOKEN}")}
    assert SignedUrlFilter().filter(record) is True
    assert record.getMessage() == "https://a.test/f?<redacted>"
