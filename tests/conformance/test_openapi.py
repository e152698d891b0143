"""schemathesis with MultiMail's OpenAPI document against the sandbox: a handful of
operations with few examples pass, and a 5xx the sandbox is made to answer is a failure no
quirk excuses (the suite can fail)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conformance.openapi import missing, run_openapi
from conformance.report import exit_code
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))

OPERATIONS = (
    "GET /v1/mailboxes",
    "GET /v1/mailboxes/{mailboxId}/emails",
    "GET /v1/mailboxes/{mailboxId}/emails/{emailId}",
    "POST /v1/mailboxes/{mailboxId}/send",
    "GET /v1/contacts",
    "GET /.well-known/multimail-signing-key",
)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(multimail_settings=MultiMailSandboxSettings(scan_delay=0.0)) as sandbox:
        yield sandbox


def pinned(sandbox: Sandbox) -> dict[str, str]:
    email = sandbox.multimail.inject_inbound(sender="a@b.example", subject="Hi", markdown="x")
    return {"mailboxId": sandbox.mailbox_id, "emailId": str(email["id"])}


def test_a_handful_of_operations_conform(sandbox: Sandbox) -> None:
    results = run_openapi(
        sandbox.multimail_url,
        sandbox.keys["admin"],
        max_examples=3,
        wall_clock_s=20,
        only=OPERATIONS,
        path_values=pinned(sandbox),
    )
    assert sorted(r.item for r in results) == sorted(OPERATIONS)
    assert [(r.item, r.reason) for r in results if not r.passed] == []


def test_a_server_error_fails_the_run(sandbox: Sandbox) -> None:
    httpx.post(
        f"{sandbox.base_url}/sandbox/faults",
        headers=sandbox.control_headers,
        json={"route": "GET /v1/contacts", "status": 500},
        timeout=5,
    ).raise_for_status()

    results = run_openapi(
        sandbox.multimail_url, sandbox.keys["admin"], max_examples=2, only=["GET /v1/contacts"]
    )

    assert [r.verdict for r in results] == ["FAIL"]
    assert "Server error" in results[0].reason
    assert exit_code(results) == 1


def test_only_loopback_is_called() -> None:
    with pytest.raises(ValueError, match="loopback"):
        run_openapi("https://api.multimail.dev", "mm_live_x", only=[])
