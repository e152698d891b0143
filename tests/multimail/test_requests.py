"""MultiMailClient and AsyncMultiMailClient against respx mocks: auth, errors, retries,
secrets. Every scenario runs through both clients."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
import respx

from mm_assistants.multimail import (
    APIStatusError,
    AsyncMultiMailClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    MultiMailClient,
    MultiMailError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from mm_assistants.tools import RequestSpec

BASE = "https://mm.test"
KEY = "mm_live_do_not_leak_42"


class Runner:
    """Calls the same method on a sync or an async client, recording sleeps."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sleeps: list[float] = []

    def __repr__(self) -> str:
        return self.mode

    def call(self, method: str, *args: Any, retry: RetryPolicy | None = None, **kwargs: Any) -> Any:
        retry = retry or RetryPolicy(max_attempts=3, jitter=0.0)
        options = {"api_key": KEY, "base_url": BASE, "retry": retry, "random": lambda: 0.5}
        if self.mode == "sync":
            with MultiMailClient(sleep=self.sleeps.append, **options) as client:
                return getattr(client, method)(*args, **kwargs)

        async def record(seconds: float) -> None:
            self.sleeps.append(seconds)

        async def scenario() -> Any:
            async with AsyncMultiMailClient(sleep=record, **options) as client:
                return await getattr(client, method)(*args, **kwargs)

        return asyncio.run(scenario())


@pytest.fixture(params=["sync", "async"])
def runner(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)


@pytest.fixture
def api() -> Any:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def test_bearer_auth_user_agent_and_json(runner: Runner, api: respx.MockRouter) -> None:
    route = api.get("/v1/mailboxes").respond(
        200, json={"mailboxes": []}, headers={"x-request-id": "req_1"}
    )
    response = runner.call("request", "GET", "/v1/mailboxes")
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"].startswith("mm-assistants/")
    assert (response.status, response.data, response.request_id) == (
        200,
        {"mailboxes": []},
        "req_1",
    )
    assert KEY not in repr(response)


def test_send_uses_the_bound_request(runner: Runner, api: respx.MockRouter) -> None:
    route = api.post("/v1/mailboxes/m/send", params={"x": "1"}).respond(202, json={"id": "em_1"})
    spec = RequestSpec(
        tool="send_email",
        method="POST",
        path="/v1/mailboxes/m/send",
        params={"x": "1"},
        json={"to": ["a@b.c"]},
    )
    assert runner.call("send", spec).status == 202
    assert route.calls.last.request.content == b'{"to":["a@b.c"]}'


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (422, BadRequestError),
        (418, APIStatusError),
    ],
)
def test_each_status_raises_its_error_without_retrying(
    runner: Runner, api: respx.MockRouter, status: int, cls: type[MultiMailError]
) -> None:
    route = api.get("/v1/account").respond(status, json={"error": "nope", "hint": "h"})
    with pytest.raises(cls) as info:
        runner.call("request", "GET", "/v1/account")
    error = info.value
    assert (error.status, error.error, error.method, error.path) == (
        status,
        "nope",
        "GET",
        "/v1/account",
    )
    assert error.details == {"hint": "h"}
    assert str(error) == f"GET /v1/account -> {status}: nope"
    assert route.call_count == 1
    assert KEY not in str(error)


def test_5xx_is_retried_with_backoff_then_succeeds(runner: Runner, api: respx.MockRouter) -> None:
    route = api.get("/v1/account").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(502, text="bad gateway"),
            httpx.Response(200, json={}),
        ]
    )
    assert runner.call("request", "GET", "/v1/account").status == 200
    assert route.call_count == 3
    assert runner.sleeps == [0.25, 0.5]


def test_5xx_that_persists_raises_server_error(runner: Runner, api: respx.MockRouter) -> None:
    api.get("/v1/account").respond(500, text="boom")
    with pytest.raises(ServerError) as info:
        runner.call("request", "GET", "/v1/account")
    assert info.value.error == "boom"


def test_a_write_without_a_key_is_not_retried_on_5xx(runner: Runner, api: respx.MockRouter) -> None:
    route = api.post("/v1/oversight/decide").respond(503)
    with pytest.raises(ServerError):
        runner.call("request", "POST", "/v1/oversight/decide", json={"email_id": "e"})
    assert route.call_count == 1


def test_429_honours_retry_after_and_surfaces_warmup_details(
    runner: Runner, api: respx.MockRouter
) -> None:
    body = {
        "error": "Warm-up limit reached",
        "warmup_stage": 1,
        "daily_sent": 20,
        "daily_limit": 20,
    }
    route = api.post("/v1/mailboxes/m/send").mock(
        side_effect=[
            httpx.Response(429, json=body, headers={"Retry-After": "7"}),
            httpx.Response(202, json={}),
        ]
    )
    assert runner.call("request", "POST", "/v1/mailboxes/m/send", json={"to": []}).status == 202
    assert route.call_count == 2  # a 429 was not processed: safe to retry even without a key
    assert runner.sleeps == [7.0]


def test_a_retry_after_beyond_the_cap_raises_with_it(runner: Runner, api: respx.MockRouter) -> None:
    api.get("/v1/usage").respond(
        429, json={"error": "Monthly quota exceeded"}, headers={"Retry-After": "3600"}
    )
    with pytest.raises(RateLimitError) as info:
        runner.call("request", "GET", "/v1/usage")
    assert info.value.retry_after == 3600
    assert info.value.is_quota
    assert not info.value.is_warmup
    assert runner.sleeps == []


def test_a_dropped_connection_on_a_keyed_post_is_retried_with_the_same_body(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post("/v1/mailboxes/m/send").mock(
        side_effect=[
            httpx.RemoteProtocolError("dropped"),
            httpx.Response(200, json={"status": "already_sent"}),
        ]
    )
    body = {"to": ["a@b.c"], "idempotency_key": "k1"}
    assert (
        runner.call("request", "POST", "/v1/mailboxes/m/send", json=body).data["status"]
        == "already_sent"
    )
    assert [c.request.content for c in route.calls] == [
        b'{"to":["a@b.c"],"idempotency_key":"k1"}'
    ] * 2


def test_a_dropped_connection_on_an_unkeyed_post_has_an_unknown_outcome(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post("/v1/mailboxes/m/send").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransportError) as info:
        runner.call("request", "POST", "/v1/mailboxes/m/send", json={"to": []})
    assert info.value.outcome_unknown
    assert "may have reached MultiMail" in str(info.value)
    assert route.call_count == 1


def test_a_refused_connection_never_sent_anything_so_it_is_retried(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post("/v1/mailboxes/m/send").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(202, json={})]
    )
    assert runner.call("request", "POST", "/v1/mailboxes/m/send", json={}).status == 202
    assert route.call_count == 2


def test_network_errors_on_reads_give_up_after_max_attempts(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.get("/v1/account").mock(side_effect=httpx.ConnectTimeout("t"))
    with pytest.raises(TransportError) as info:
        runner.call("request", "GET", "/v1/account")
    assert not info.value.outcome_unknown
    assert "timed out after 3 attempt(s)" in str(info.value)
    assert route.call_count == 3


def test_empty_and_text_bodies(runner: Runner, api: respx.MockRouter) -> None:
    api.delete("/v1/contacts/c").respond(204)
    api.get("/v1/account").respond(200, text="plain", headers={"content-type": "text/plain"})
    assert runner.call("request", "DELETE", "/v1/contacts/c").data is None
    answer = runner.call("request", "GET", "/v1/account")
    assert (answer.data, answer.text) == (None, "plain")


def test_fetch_url_sends_the_key_only_to_multimail(runner: Runner, api: respx.MockRouter) -> None:
    own = api.get("/files/a").respond(200, content=b"abc")
    foreign = api.route(host="cdn.example", path="/a").respond(200, content=b"xyz")
    assert runner.call("fetch_url", "/files/a").content == b"abc"
    assert own.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    assert runner.call("fetch_url", "https://cdn.example/a?sig=1").content == b"xyz"
    assert "authorization" not in foreign.calls.last.request.headers


def test_fetch_url_stops_at_max_bytes_and_reports_errors(
    runner: Runner, api: respx.MockRouter
) -> None:
    api.get("/files/big").respond(200, content=b"x" * 10_000)
    api.get("/files/gone").respond(404, json={"error": "expired link"})
    cut = runner.call("fetch_url", "/files/big", max_bytes=100)
    assert cut.truncated
    with pytest.raises(NotFoundError, match="expired link"):
        runner.call("fetch_url", "/files/gone?sig=secret")


def test_configuration_errors_say_what_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MULTIMAIL_API_KEY", raising=False)
    with pytest.raises(ValueError, match="MULTIMAIL_API_KEY"):
        MultiMailClient()
    with pytest.raises(ValueError, match="http"):
        MultiMailClient(api_key=KEY, base_url="ftp://x")
    with pytest.raises(ValueError, match="timeout"):
        MultiMailClient(api_key=KEY, timeout=0)
    with pytest.raises(TypeError, match="RetryPolicy"):
        MultiMailClient(api_key=KEY, retry=3)  # type: ignore[arg-type]


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIMAIL_API_KEY", KEY)
    monkeypatch.setenv("MULTIMAIL_API_URL", "http://127.0.0.1:8025/")
    with MultiMailClient() as client:
        assert client.base_url == "http://127.0.0.1:8025"
        assert (
            repr(client) == "MultiMailClient(base_url='http://127.0.0.1:8025', api_key=<redacted>)"
        )


def test_a_callers_http_client_is_used_and_left_open(api: respx.MockRouter) -> None:
    api.get("/v1/account").respond(200, json={})
    http = httpx.Client()
    with MultiMailClient(api_key=KEY, base_url=BASE, http_client=http) as client:
        client.request("GET", "/v1/account")
    assert not http.is_closed
    http.close()


def test_logs_never_carry_the_key(
    runner: Runner, api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.get("/v1/account").mock(
        side_effect=[httpx.ConnectError("x"), httpx.Response(401, json={"error": "bad key"})]
    )
    with pytest.raises(AuthenticationError):
        runner.call("request", "GET", "/v1/account")
    assert any(r.name == "mm_assistants.multimail" for r in caplog.records)
    assert all(KEY not in r.getMessage() for r in caplog.records)
