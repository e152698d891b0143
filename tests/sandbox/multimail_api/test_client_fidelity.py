"""The sandbox answers what MultiMail's own MCP client (0.5.3, 0.7.0) sends and reads."""

from __future__ import annotations

import httpx
import pytest

from mm_assistants.sandbox.multimail_api import downloads
from tests.sandbox.multimail_api.conftest import Sandbox

BIG = bytes(range(256)) * 300  # 76,800 bytes: past the client's 50 KB inline limit


def _with_attachment(sandbox: Sandbox, data: bytes = BIG, name: str = "big.bin") -> str:
    email_id = sandbox.attach(name, data, "application/octet-stream")
    return f"{sandbox.mb}/emails/{email_id}/attachments/{name}"


def test_the_url_answer_has_the_fields_the_client_reads(
    sandbox: Sandbox, reader: httpx.Client
) -> None:
    link = reader.get(_with_attachment(sandbox) + "/url").json()
    assert set(link) == {"url", "filename", "size_bytes", "content_type", "expires_in"}
    assert link["size_bytes"] == len(BIG)  # the client inlines below 50,000 by this number
    assert link["url"].startswith("http://testserver/v1/downloads/big.bin?token=")
    anonymous = sandbox.client()
    assert anonymous.get(link["url"]).content == BIG
    assert anonymous.get(link["url"]).headers["cache-control"] == "private, no-store"


def test_a_link_expires_after_its_ttl(sandbox: Sandbox, reader: httpx.Client) -> None:
    link = reader.get(_with_attachment(sandbox) + "/url").json()
    sandbox.advance(link["expires_in"] - 1)
    assert sandbox.client().get(link["url"]).status_code == 200
    sandbox.advance(1)
    gone = sandbox.client().get(link["url"])
    assert gone.status_code == 410
    assert "expired" in gone.json()["error"]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"), id="signature"),
        pytest.param(lambda t: "A" + t[1:], id="payload"),
        pytest.param(lambda t: t.split(".")[0], id="unsigned"),
        pytest.param(lambda t: t + "é", id="non-ascii"),
    ],
)
def test_a_tampered_link_is_forbidden(
    sandbox: Sandbox, reader: httpx.Client, tamper: object
) -> None:
    link = reader.get(_with_attachment(sandbox) + "/url").json()
    token = link["url"].split("?token=")[1]
    assert callable(tamper)
    answer = sandbox.client().get(downloads.PREFIX + "big.bin", params={"token": tamper(token)})
    assert answer.status_code == 403
    assert answer.json() == {"error": "Invalid download link"}


def test_a_link_names_one_file_only(sandbox: Sandbox, reader: httpx.Client) -> None:
    first = reader.get(_with_attachment(sandbox, b"one", "a.txt") + "/url").json()
    second = reader.get(_with_attachment(sandbox, b"two", "b.txt") + "/url").json()
    assert sandbox.client().get(first["url"]).content == b"one"
    assert sandbox.client().get(second["url"]).content == b"two"
    # the token names the file: another file's name in the path is refused
    renamed = first["url"].replace("/a.txt?", "/b.txt?")
    assert sandbox.client().get(renamed).status_code == 403
    assert sandbox.client().get(first["url"].split("?")[0]).status_code == 403  # no token
    # a token forged under another secret (another sandbox's) is refused
    blob_id = first["url"]  # any blob id: the signature fails first
    forged = downloads.sign_download(blob_id, expires=4e9, secret="not this sandbox's")
    answer = sandbox.client().get(downloads.link_path("a.txt", forged))
    assert answer.status_code == 403


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("user0", {0, 2}, id="local-part"),
        pytest.param("EXAMPLE.com", {0, 1, 2}, id="domain-any-case"),
        pytest.param("User1@Example.com", {1}, id="whole-address"),
        pytest.param("nobody", set(), id="no-match"),
    ],
)
def test_the_sender_filter_is_a_partial_case_insensitive_match(
    sandbox: Sandbox, reader: httpx.Client, query: str, expected: set[int]
) -> None:
    ids = [
        sandbox.control.inject_inbound(
            sender=f"user{i % 2}@example.com", subject=f"Invoice {i}", markdown="x"
        )["id"]
        for i in range(3)
    ]
    listed = reader.get(f"{sandbox.mb}/emails", params={"sender": query}).json()["emails"]
    assert {e["id"] for e in listed} == {ids[i] for i in expected}
    subject = reader.get(f"{sandbox.mb}/emails", params={"subject_contains": "VOICE 1"}).json()
    assert [e["id"] for e in subject["emails"]] == [ids[1]]


def test_configure_takes_the_clients_exact_body(sandbox: Sandbox, admin: httpx.Client) -> None:
    # what configure_mailbox (0.7.0) sends: switches as 1/0, and always mcp_configured: 1
    body = {
        "display_name": "Ops",
        "default_gate_timing": "schedule_first",
        "scheduling_enabled": 0,
        "ai_disclosure": 1,
        "mcp_configured": 1,
    }
    before = admin.get(sandbox.mb).json()
    assert not before["mcp_configured"]
    answer = admin.patch(f"{sandbox.mb}/configure", json=body)
    assert answer.status_code == 200, answer.text
    shown = admin.get(sandbox.mb).json()
    assert shown["mcp_configured"]  # the client's first-run check reads this
    assert (shown["scheduling_enabled"], shown["ai_disclosure"]) == (False, True)
    assert shown["default_gate_timing"] == "schedule_first"


def test_get_mailbox_shows_the_callers_own_mailbox_only(
    start_sandbox: object, sandbox: Sandbox, reader: httpx.Client
) -> None:
    shown = reader.get(sandbox.mb)
    assert shown.status_code == 200, shown.text
    view = shown.json()
    assert view["id"] == sandbox.seed.mailbox_id
    assert view["oversight_mode"] == "gated_send"
    assert {"address", "display_name", "auto_cc", "auto_bcc", "signature_block"} <= set(view)
    assert not any(key.startswith("_") for key in view)
    other = sandbox.seed.second_mailbox_id
    foreign = reader.get(f"/v1/mailboxes/{other}")
    assert (foreign.status_code, foreign.json()) == (404, {"error": "Mailbox not found"})
