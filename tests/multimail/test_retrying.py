"""Retries through both clients: only where they cannot send an email twice."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
import respx

from mm_assistants.multimail import RateLimitError, RetryPolicy, ServerError, TransportError
from tests.multimail.conftest import Runner

SEND = "/v1/mailboxes/m/send"
KEYED = {"to": ["a@b.c"], "idempotency_key": "call_1-send"}
UNKEYED = {"to": ["a@b.c"]}
WARMUP = {
    "error": "Warm-up limit reached",
    "warmup_stage": 1,
    "daily_sent": 20,
    "daily_limit": 20,
    "hint": "Limits rise as the account ages",
}


async def test_5xx_is_retried_with_backoff_then_succeeds(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.get("/v1/account").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(502, text="bad gateway"),
            httpx.Response(200, json={"plan": "free"}),
        ]
    )
    answer = await runner.call("request", "GET", "/v1/account")
    assert (answer.data, answer.attempts, route.call_count) == ({"plan": "free"}, 3, 3)
    assert runner.sleeps == [0.25, 0.5]


async def test_a_5xx_that_persists_raises_after_max_attempts(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.get("/v1/account").respond(500, json={"error": "boom"})
    with pytest.raises(ServerError, match="boom"):
        await runner.call("request", "GET", "/v1/account")
    assert (route.call_count, runner.sleeps) == (3, [0.25, 0.5])


async def test_jitter_comes_from_the_injected_random(runner: Runner, api: respx.MockRouter) -> None:
    api.get("/v1/account").mock(side_effect=[httpx.Response(503), httpx.Response(200)])
    retry = RetryPolicy(jitter=0.5)
    await runner.call("request", "GET", "/v1/account", client={"retry": retry, "random": lambda: 0})
    assert runner.sleeps == [0.125]


async def test_5xx_on_a_post_without_idempotency_key_is_not_retried(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post(SEND).respond(503, headers={"Retry-After": "1"})
    with pytest.raises(ServerError):
        await runner.call("request", "POST", SEND, json=UNKEYED)
    assert (route.call_count, runner.sleeps) == (1, [])


async def test_5xx_on_a_post_with_idempotency_key_is_retried(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post(SEND).mock(side_effect=[httpx.Response(500), httpx.Response(202, json={})])
    assert (await runner.call("request", "POST", SEND, json=KEYED)).status == 202
    assert route.call_count == 2


async def test_retry_safe_false_overrides_the_method(runner: Runner, api: respx.MockRouter) -> None:
    route = api.get("/v1/account").respond(503)
    with pytest.raises(ServerError):
        await runner.call("request", "GET", "/v1/account", retry_safe=False)
    assert route.call_count == 1


async def test_one_attempt_with_retry_policy_none(runner: Runner, api: respx.MockRouter) -> None:
    route = api.get("/v1/account").respond(503)
    with pytest.raises(ServerError):
        await runner.call("request", "GET", "/v1/account", client={"retry": RetryPolicy.none()})
    assert route.call_count == 1


async def test_429_honours_retry_after_even_without_a_key(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post(SEND).mock(
        side_effect=[
            httpx.Response(429, json=WARMUP, headers={"Retry-After": "7"}),
            httpx.Response(202, json={"id": "em_1"}),
        ]
    )
    answer = await runner.call("request", "POST", SEND, json=UNKEYED)
    assert (answer.status, answer.attempts) == (202, 2)
    assert route.call_count == 2  # MultiMail refused the first unprocessed: nothing sent twice
    assert runner.sleeps == [7.0]


async def test_a_warm_up_limit_that_persists_surfaces_its_details(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post(SEND).respond(429, json=WARMUP, headers={"Retry-After": "2"})
    with pytest.raises(RateLimitError) as info:
        await runner.call("request", "POST", SEND, json=UNKEYED)
    error = info.value
    assert (route.call_count, runner.sleeps) == (3, [2.0, 2.0])
    assert (error.retry_after, error.is_warmup, error.is_quota) == (2.0, True, False)
    assert error.details == {k: v for k, v in WARMUP.items() if k != "error"}
    assert error.error == "Warm-up limit reached"


async def test_a_retry_after_beyond_the_cap_raises_at_once(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.get("/v1/usage").respond(
        429, json={"error": "Monthly quota exceeded"}, headers={"Retry-After": "3600"}
    )
    with pytest.raises(RateLimitError) as info:
        await runner.call("request", "GET", "/v1/usage")
    assert (info.value.retry_after, info.value.is_quota) == (3600.0, True)
    assert (route.call_count, runner.sleeps) == (1, [])


async def test_a_retry_after_given_as_a_date(runner: Runner, api: respx.MockRouter) -> None:
    soon = email.utils.formatdate(time.time() + 5, usegmt=True)
    api.get("/v1/account").mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": soon}), httpx.Response(200)]
    )
    await runner.call("request", "GET", "/v1/account")
    assert len(runner.sleeps) == 1
    assert 3.0 <= runner.sleeps[0] <= 5.0


async def test_a_429_without_retry_after_backs_off(runner: Runner, api: respx.MockRouter) -> None:
    api.get("/v1/account").mock(side_effect=[httpx.Response(429), httpx.Response(200)])
    await runner.call("request", "GET", "/v1/account")
    assert runner.sleeps == [0.25]


async def test_a_dropped_connection_on_a_keyed_post_is_retried_with_the_same_body(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post(SEND).mock(
        side_effect=[
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            httpx.Response(200, json={"id": "em_1", "status": "already_sent", "idempotent": True}),
        ]
    )
    answer = await runner.call("request", "POST", SEND, json=KEYED)
    assert answer.data["status"] == "already_sent"
    first, second = (call.request.content for call in route.calls)
    assert first == second == b'{"to":["a@b.c"],"idempotency_key":"call_1-send"}'


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.RemoteProtocolError("Server disconnected"), id="dropped"),
        pytest.param(httpx.ReadError("Connection reset by peer"), id="reset"),
        pytest.param(httpx.WriteError("Broken pipe"), id="write"),
        pytest.param(httpx.ReadTimeout("timed out"), id="read-timeout"),
        pytest.param(httpx.WriteTimeout("timed out"), id="write-timeout"),
    ],
)
async def test_a_failure_after_sending_an_unkeyed_post_has_an_unknown_outcome(
    runner: Runner, api: respx.MockRouter, failure: httpx.TransportError
) -> None:
    route = api.post(SEND).mock(side_effect=failure)
    with pytest.raises(TransportError) as info:
        await runner.call("request", "POST", SEND, json=UNKEYED)
    error = info.value
    assert error.outcome_unknown
    assert "the email may or may not have been sent" in str(error)
    assert "never re-send blindly" in str(error)
    assert (error.method, error.path, error.status) == ("POST", SEND, None)
    assert error.__cause__ is failure
    assert (route.call_count, runner.sleeps) == (1, [])


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ConnectError("Connection refused"), id="refused"),
        pytest.param(httpx.ConnectTimeout("timed out"), id="connect-timeout"),
        pytest.param(httpx.PoolTimeout("timed out"), id="pool-timeout"),
    ],
)
async def test_a_connection_never_made_sent_nothing_so_it_is_retried(
    runner: Runner, api: respx.MockRouter, failure: httpx.TransportError
) -> None:
    route = api.post(SEND).mock(side_effect=[failure, httpx.Response(202, json={})])
    assert (await runner.call("request", "POST", SEND, json=UNKEYED)).status == 202
    assert route.call_count == 2
    route.mock(side_effect=failure)
    with pytest.raises(TransportError) as info:
        await runner.call("request", "POST", SEND, json=UNKEYED)
    assert not info.value.outcome_unknown
    assert str(info.value).endswith("nothing reached MultiMail.")


async def test_timeouts_on_reads_are_retried_then_raised(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.get("/v1/account").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(TransportError) as info:
        await runner.call("request", "GET", "/v1/account")
    assert not info.value.outcome_unknown
    assert str(info.value) == (
        "GET /v1/account timed out after 3 attempts (ReadTimeout: timed out)"
    )
    assert (route.call_count, runner.sleeps) == (3, [0.25, 0.5])


@pytest.mark.parametrize(
    ("method", "body", "unknown"),
    [("GET", None, False), ("POST", UNKEYED, True)],
)
async def test_an_undecodable_answer_is_not_retried(
    runner: Runner,
    api: respx.MockRouter,
    method: str,
    body: dict[str, object] | None,
    unknown: bool,
) -> None:
    # The server answered (and may have acted), but its gzip body is corrupt.
    corrupt = httpx.Response(
        200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip")
    )
    route = api.route(method=method, path="/v1/x").mock(return_value=corrupt)
    with pytest.raises(TransportError, match="failed after 1 attempt ") as info:
        await runner.call("request", method, "/v1/x", json=body)
    assert info.value.outcome_unknown is unknown
    assert isinstance(info.value.__cause__, httpx.DecodingError)
    assert route.call_count == 1


async def test_one_debug_line_per_attempt(
    runner: Runner, api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="mm_assistants.multimail")
    api.get("/v1/account").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200)]
    )
    await runner.call("request", "GET", "/v1/account")
    lines = [r.getMessage() for r in caplog.records if r.name == "mm_assistants.multimail"]
    assert [line.split(" (")[0] for line in lines] == [
        "GET /v1/account -> ConnectError",
        "GET /v1/account -> 503",
        "GET /v1/account -> 200",
    ]
    assert [f"attempt {n}," in line for n, line in enumerate(lines, 1)] == [True] * 3
    assert all(line.endswith(" ms)") for line in lines)
