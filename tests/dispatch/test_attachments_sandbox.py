"""download_attachment against the MultiMail sandbox (in-process): the signed link is
fetched without the key, and neither the link nor its token reaches the model."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mm_assistants.dispatch import Dispatcher
from mm_assistants.multimail import MultiMailClient
from tests.dispatch.conftest import call
from tests.sandbox.multimail_api.conftest import (  # fixtures, used by name
    Sandbox,
    portal,  # noqa: F401 -- a fixture the sandbox fixtures need
    start_sandbox,  # noqa: F401 -- a fixture the sandbox fixture needs
)


@pytest.fixture
def sandbox(start_sandbox: Any) -> Sandbox:  # noqa: F811 -- the imported fixture, used by name
    made: Sandbox = start_sandbox()
    return made


@pytest.fixture
def seen(sandbox: Sandbox) -> Iterator[tuple[Dispatcher, list[httpx.Request]]]:
    """A dispatcher on the seed's read key, and every request it made."""
    requests: list[httpx.Request] = []
    http = sandbox.client()
    http.event_hooks["request"].append(requests.append)
    client = MultiMailClient(
        api_key=sandbox.seed.keys["read"], base_url="http://testserver", http_client=http
    )
    yield Dispatcher(client, mailbox_id=sandbox.seed.mailbox_id), requests
    client.close()


def test_a_small_file_is_fetched_through_the_signed_link_without_the_key(
    sandbox: Sandbox, seen: tuple[Dispatcher, list[httpx.Request]]
) -> None:
    dispatcher, requests = seen
    email_id = sandbox.attach("q3 report.pdf", b"%PDF-1.4 small")
    arguments = {"email_id": email_id, "filename": "q3 report.pdf"}
    result = dispatcher.dispatch(call("download_attachment", arguments))
    assert result.ok, result.output
    output = json.loads(result.output)
    assert base64.b64decode(output["untrusted"]["content_base64"]) == b"%PDF-1.4 small"
    link_step, file_step = requests
    assert link_step.url.raw_path.endswith(b"/attachments/q3%20report.pdf/url")
    assert link_step.headers["authorization"].startswith("Bearer ")
    assert file_step.url.path == "/v1/downloads/q3 report.pdf"
    assert "authorization" not in file_step.headers
    token = file_step.url.params["token"]
    assert token not in result.output
    assert "/v1/downloads" not in result.output


def test_a_large_file_is_described_without_its_link(
    sandbox: Sandbox, seen: tuple[Dispatcher, list[httpx.Request]]
) -> None:
    dispatcher, requests = seen
    email_id = sandbox.attach("q3 report.pdf", b"x" * 60_000)
    arguments = {"email_id": email_id, "filename": "q3 report.pdf"}
    result = dispatcher.dispatch(call("download_attachment", arguments))
    assert result.ok, result.output
    output = json.loads(result.output)
    assert output["size_bytes"] == 60_000
    assert output["untrusted"]["content_type"] == "application/pdf"
    assert "content_base64" not in output["untrusted"]
    assert len(requests) == 1  # declared too large: the file itself is never fetched
    assert "token" not in result.output
    assert "/v1/downloads" not in result.output
