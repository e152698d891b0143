"""`create_review_app` through Starlette's TestClient, over an in-memory backend."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from mm_assistants.review import ReviewError, create_review_app
from tests.review.test_queue import HELD, NOW

DECIDE = {"X-Review-Request": "1"}
LOOPBACK = "http://127.0.0.1:8025"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class FakeBackend:
    """A queue in memory: decisions remove the email; ``fail`` makes every call raise."""

    def __init__(self, emails: Sequence[Mapping[str, Any]]) -> None:
        self.emails = {str(email["id"]): dict(email) for email in emails}
        self.decisions: list[tuple[str, str, str | None]] = []
        self.fail: Exception | None = None

    async def pending(self) -> list[Mapping[str, Any]]:
        if self.fail is not None:
            raise self.fail
        return list(self.emails.values())

    async def decide(self, email_id: str, action: str, reason: str | None) -> Mapping[str, Any]:
        if self.fail is not None:
            raise self.fail
        if email_id not in self.emails:
            raise ReviewError(f"unknown email id {email_id}", status=404)
        del self.emails[email_id]
        self.decisions.append((email_id, action, reason))
        return {"status": "rejected" if action == "reject" else "approved_and_sent"}


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend([HELD, {**HELD, "id": "em_2", "subject": HOSTILE}])


@pytest.fixture
def client(backend: FakeBackend) -> TestClient:
    """A client on a loopback name that sends the page's token, as the page's script does."""
    client = TestClient(create_review_app(backend, clock=lambda: NOW), base_url=LOOPBACK)
    match = re.search(r'data-review-token="([^"]+)"', client.get("/").text)
    assert match
    client.headers["X-Review-Token"] = match.group(1)
    return client


def test_the_page_is_one_self_contained_document(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<style>" in html
    assert "<script>" in html
    assert 'data-refresh-ms="1500"' in html
    # nothing from elsewhere: no src/href attributes, no absolute URLs
    assert not re.search(r"\s(src|href)=", html)
    assert "http://" not in html
    assert "https://" not in html


def test_the_page_only_allows_its_own_inline_style_and_script(client: TestClient) -> None:
    policy = client.get("/").headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'", policy)
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


def test_the_page_uses_relative_urls_so_it_works_under_a_prefix(backend: FakeBackend) -> None:
    outer = Starlette(routes=[Mount("/ops/review", app=create_review_app(backend))])
    client = TestClient(outer, base_url=LOOPBACK)
    html = client.get("/ops/review/").text
    assert '"/api' not in html  # the script builds its URLs from the page's own path
    assert client.get("/ops/review/api/pending").json()["emails"][0]["id"] == "em_1"


def test_the_queue_is_served_as_rows(client: TestClient) -> None:
    answer = client.get("/api/pending")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    rows = answer.json()["emails"]
    assert [row["id"] for row in rows] == ["em_1", "em_2"]
    first = rows[0]
    assert first["to"] == ["bob@example.com", "carol@example.com"]
    assert first["subject"] == "Quarterly numbers"
    assert first["preview"] == ["Hi Bob,", "the numbers are in."]
    assert first["age"] == "3m"


def test_hostile_email_text_never_reaches_the_page_as_markup(client: TestClient) -> None:
    assert HOSTILE not in client.get("/").text  # the document carries no email content
    answer = client.get("/api/pending")
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.json()["emails"][1]["subject"] == HOSTILE  # data, for textContent
    script = resources.files("mm_assistants.review").joinpath("page.js").read_text()
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script
    assert "document.write" not in script


def test_a_decision_is_taken_and_answered(client: TestClient, backend: FakeBackend) -> None:
    answer = client.post(
        "/api/decide",
        json={"email_id": "em_1", "action": "reject", "reason": " not yet "},
        headers=DECIDE,
    )
    assert answer.status_code == 200
    assert answer.json() == {"id": "em_1", "action": "reject", "status": "rejected"}
    assert backend.decisions == [("em_1", "reject", "not yet")]
    assert [row["id"] for row in client.get("/api/pending").json()["emails"]] == ["em_2"]


def test_a_decision_without_the_page_header_is_refused(
    client: TestClient, backend: FakeBackend
) -> None:
    for headers in ({}, {"X-Review-Request": "yes"}):
        answer = client.post(
            "/api/decide", json={"email_id": "em_1", "action": "approve"}, headers=headers
        )
        assert answer.status_code == 403
        assert "X-Review-Request" in answer.json()["error"]
    # what a cross-site HTML form can send: a urlencoded body, no custom header
    form = client.post("/api/decide", data={"email_id": "em_1", "action": "approve"})
    assert form.status_code == 403
    assert backend.decisions == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"email_id": "em_1", "action": "reject"}, "needs a reason", id="no-reason"),
        pytest.param(
            {"email_id": "em_1", "action": "reject", "reason": "  "}, "needs a reason", id="blank"
        ),
        pytest.param({"email_id": "em_1", "action": "send"}, "'approve' or 'reject'", id="action"),
        pytest.param({"action": "approve"}, "email_id", id="no-id"),
        pytest.param(
            {"email_id": "em_1", "action": "reject", "reason": 5}, "reason must be", id="reason"
        ),
        pytest.param(["em_1"], "email_id", id="not-an-object"),
    ],
)
def test_a_malformed_decision_is_a_400(
    client: TestClient, backend: FakeBackend, body: Any, message: str
) -> None:
    answer = client.post("/api/decide", json=body, headers=DECIDE)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert backend.decisions == []


def test_a_body_that_is_not_json_is_a_400(client: TestClient) -> None:
    answer = client.post("/api/decide", content=b"{nope", headers=DECIDE)
    assert answer.status_code == 400
    assert answer.json() == {"error": "the body must be JSON"}


def test_an_unknown_id_is_a_404(client: TestClient) -> None:
    answer = client.post(
        "/api/decide", json={"email_id": "em_404", "action": "approve"}, headers=DECIDE
    )
    assert answer.status_code == 404
    assert answer.json() == {"error": "unknown email id em_404"}


def test_a_refusal_of_the_backend_is_a_502_with_its_message(
    client: TestClient, backend: FakeBackend
) -> None:
    backend.fail = ReviewError("this key has no oversight scope", status=403)
    answer = client.get("/api/pending")
    assert answer.status_code == 502
    assert answer.json() == {"error": "this key has no oversight scope"}


def test_a_crashing_backend_shows_no_details(
    client: TestClient, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.fail = RuntimeError("db password is hunter2")
    with caplog.at_level(logging.ERROR, logger="mm_assistants.review"):
        listing = client.get("/api/pending")
        decision = client.post(
            "/api/decide", json={"email_id": "em_1", "action": "approve"}, headers=DECIDE
        )
    assert listing.status_code == decision.status_code == 500
    assert "hunter2" not in listing.text + decision.text
    assert "see the server log" in listing.json()["error"]
    assert len(caplog.records) == 2  # the operator's log has the traceback


def test_other_methods_are_not_allowed(client: TestClient) -> None:
    assert client.get("/api/decide").status_code == 405
    assert client.post("/api/pending", headers=DECIDE).status_code == 405


def test_the_app_checks_its_arguments(backend: FakeBackend) -> None:
    with pytest.raises(TypeError, match="pending"):
        create_review_app(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="refresh_seconds"):
        create_review_app(backend, refresh_seconds=0)
    page = (
        TestClient(create_review_app(backend, refresh_seconds=0.25), base_url=LOOPBACK)
        .get("/")
        .text
    )
    assert 'data-refresh-ms="250"' in page


ORIGINAL = {
    "id": "em_0",
    "from": "ana@customer.example",
    "subject": HOSTILE,
    "markdown": "Hi,\n\ncould we move the call?",
    "received_at": "2027-01-15T07:00:00.000Z",
}


class WithOriginals(FakeBackend):
    """A backend that also finds the email each held one answers (an `OriginalSource`)."""

    def __init__(self, emails: Sequence[Mapping[str, Any]], fail_for: str = "") -> None:
        super().__init__(emails)
        self.fail_for = fail_for

    async def original(self, email: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if email["id"] == self.fail_for:
            raise RuntimeError("the reader is down")
        return ORIGINAL if email["id"] == "em_1" else None


def test_a_reply_is_served_with_the_email_it_answers(caplog: pytest.LogCaptureFixture) -> None:
    backend = WithOriginals([HELD, {**HELD, "id": "em_2"}, {**HELD, "id": "em_3"}], "em_3")
    client = TestClient(create_review_app(backend, clock=lambda: NOW), base_url=LOOPBACK)
    with caplog.at_level(logging.WARNING, logger="mm_assistants.review"):
        rows = {row["id"]: row for row in client.get("/api/pending").json()["emails"]}
    assert rows["em_1"]["original"] == {
        "id": "em_0",
        "from": "ana@customer.example",
        "subject": HOSTILE,  # data, for textContent
        "preview": ["Hi,", "could we move the call?"],
        "received_at": "2027-01-15T07:00:00.000Z",
    }
    assert rows["em_2"]["original"] is None  # a new email answers none
    assert rows["em_3"]["original"] is None  # a failed look-up hides no reply
    assert "could not find the email em_3 answers" in caplog.text


def test_a_backend_without_originals_serves_replies_alone(client: TestClient) -> None:
    assert [row["original"] for row in client.get("/api/pending").json()["emails"]] == [
        None,
        None,
    ]


def test_only_a_sandbox_page_shows_the_sandbox_banner(backend: FakeBackend) -> None:
    def banner(page: str) -> str:
        match = re.search(r'<p id="sandbox-banner"[^>]*>', page)
        assert match
        return match.group()

    real = TestClient(create_review_app(backend), base_url=LOOPBACK).get("/").text
    sandbox = TestClient(create_review_app(backend, sandbox=True), base_url=LOOPBACK)
    assert "hidden" in banner(real)
    assert "hidden" not in banner(sandbox.get("/").text)
    assert "{{" not in sandbox.get("/").text
