"""The README's "Reviewing held emails" web example, run as printed against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from mm_assistants.sandbox import Sandbox
from tests.readme import python_blocks


def test_the_mounted_page_lists_the_held_queue(
    mm_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    (block,) = python_blocks("Reviewing held emails")
    for name, value in mm_sandbox.environment().items():
        monkeypatch.setenv(name, value)  # MULTIMAIL_API_URL: the client finds the sandbox
    namespace: dict[str, Any] = {"OVERSIGHT_KEY": mm_sandbox.keys["oversight"]}
    exec(compile(block, "README.md", "exec"), namespace)  # as printed
    # the page answers to the host names the example gives it, not to "testserver"
    with TestClient(namespace["app"], base_url="http://testserver") as stranger:
        assert stranger.get("/review/api/pending").status_code == 400
    with TestClient(namespace["app"], base_url="https://review.example.com") as client:
        page = client.get("/review/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        pending = client.get("/review/api/pending")
        assert pending.status_code == 200
        refused = client.post("/review/api/decide", json={"email_id": "em_x", "action": "approve"})
        assert refused.status_code == 403  # no X-Review-Request header: not from the page
        # the example's client lives on the app's event loop: close it there
        assert client.portal is not None
        client.portal.call(namespace["queue"]._client.aclose)
