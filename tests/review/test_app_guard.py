"""The review page answers only to its own names and takes decisions only from itself:
a Host allow-list (DNS rebinding), a same-origin check and a per-page token (CSRF)."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from mm_assistants.review import create_review_app
from tests.review.hostile import HOSTILE, raw_in
from tests.review.test_app import FakeBackend
from tests.review.test_queue import HELD, NOW

PAGE_HEADER = {"X-Review-Request": "1"}
DECISION = {"email_id": "em_1", "action": "approve"}


def token_of(client: TestClient, path: str = "/") -> str:
    """The token the served page carries for its script."""
    match = re.search(r'data-review-token="([^"]+)"', client.get(path).text)
    assert match, "the page carries no token"
    return match.group(1)


def from_page(client: TestClient) -> dict[str, str]:
    """The headers the page's own script sends with a decision."""
    return {**PAGE_HEADER, "X-Review-Token": token_of(client)}


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend([HELD, {**HELD, "id": "em_2"}])


def client_at(backend: FakeBackend, base_url: str, **options: object) -> TestClient:
    app = create_review_app(backend, clock=lambda: NOW, **options)  # type: ignore[arg-type]
    return TestClient(app, base_url=base_url)


def test_a_rebound_name_gets_neither_the_page_the_queue_nor_a_decision(
    backend: FakeBackend,
) -> None:
    # attacker.example resolved to 127.0.0.1 after the page loaded: the browser still says
    # Host: attacker.example, and calls the page same-origin
    hostile = client_at(backend, "http://attacker.example:8025")
    assert hostile.get("/").status_code == 400
    assert hostile.get("/api/pending").status_code == 400
    headers = {**PAGE_HEADER, "Origin": "http://attacker.example:8025"}
    assert hostile.post("/api/decide", json=DECISION, headers=headers).status_code == 400
    assert backend.decisions == []
    assert "em_1" not in hostile.get("/api/pending").text


@pytest.mark.parametrize(
    "base_url",
    [
        pytest.param("http://localhost:8025", id="localhost"),
        pytest.param("http://127.0.0.1", id="ipv4"),
        pytest.param("http://[::1]:9000", id="ipv6"),
        pytest.param("http://LocalHost:1", id="case"),
    ],
)
def test_loopback_names_with_any_port_are_served(backend: FakeBackend, base_url: str) -> None:
    client = client_at(backend, base_url)
    assert client.get("/api/pending").status_code == 200
    assert client.post("/api/decide", json=DECISION, headers=from_page(client)).status_code == 200


def test_a_real_deployment_names_its_hosts(backend: FakeBackend) -> None:
    allowed = ["review.example.com", "*.ops.example.com"]
    assert (
        client_at(backend, "https://review.example.com", allowed_hosts=allowed)
        .get("/api/pending")
        .status_code
        == 200
    )
    assert (
        client_at(backend, "https://eu.ops.example.com", allowed_hosts=allowed).get("/").status_code
        == 200
    )
    for refused in ("http://localhost", "https://ops.example.com.evil.example"):
        client = client_at(backend, refused, allowed_hosts=allowed)
        assert client.get("/api/pending").status_code == 400, refused


@pytest.mark.parametrize("bad", ["", "http://x.example", "x.example/path", "a b", 7])
def test_a_malformed_allowed_host_is_refused_at_construction(
    backend: FakeBackend, bad: object
) -> None:
    with pytest.raises((ValueError, TypeError)):
        create_review_app(backend, allowed_hosts=[bad])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": "http://evil.example"}, id="other-origin"),
        pytest.param({"Origin": "null"}, id="opaque-origin"),
        pytest.param({"Origin": "http://127.0.0.1:9999"}, id="other-port"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="cross-site"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, id="same-site"),
    ],
)
def test_a_decision_from_another_origin_is_refused(
    backend: FakeBackend, headers: dict[str, str]
) -> None:
    client = client_at(backend, "http://127.0.0.1")
    answer = client.post("/api/decide", json=DECISION, headers={**from_page(client), **headers})
    assert answer.status_code == 403
    assert backend.decisions == []


def test_a_decision_from_the_page_itself_passes(backend: FakeBackend) -> None:
    client = client_at(backend, "http://127.0.0.1:8025")
    same = {"Origin": "http://127.0.0.1:8025", "Sec-Fetch-Site": "same-origin"}
    answer = client.post("/api/decide", json=DECISION, headers={**from_page(client), **same})
    assert answer.status_code == 200
    assert backend.decisions == [("em_1", "approve", None)]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="missing"),
        pytest.param("x" * 43, id="wrong"),
        pytest.param("", id="empty"),
    ],
)
def test_a_decision_needs_the_pages_token(backend: FakeBackend, token: str | None) -> None:
    client = client_at(backend, "http://127.0.0.1")
    headers = dict(PAGE_HEADER) if token is None else {**PAGE_HEADER, "X-Review-Token": token}
    answer = client.post("/api/decide", json=DECISION, headers=headers)
    assert answer.status_code == 403
    assert "token" in answer.json()["error"]
    assert backend.decisions == []


def test_each_app_has_its_own_token_and_its_script_sends_it(backend: FakeBackend) -> None:
    one, two = client_at(backend, "http://127.0.0.1"), client_at(backend, "http://127.0.0.1")
    assert token_of(one) != token_of(two)
    assert len(token_of(one)) >= 32
    answer = two.post(
        "/api/decide", json=DECISION, headers={**PAGE_HEADER, "X-Review-Token": token_of(one)}
    )
    assert answer.status_code == 403
    assert "X-Review-Token" in one.get("/").text  # the page's script sends it


def test_the_queue_reaches_the_page_without_steering_characters() -> None:
    backend = FakeBackend([{**HELD, "subject": HOSTILE, "body_markdown": HOSTILE}])
    rows = client_at(backend, "http://127.0.0.1").get("/api/pending").json()["emails"]
    (row,) = rows
    for value in (row["subject"], row["body"], *row["preview"]):
        assert raw_in(value) == []
