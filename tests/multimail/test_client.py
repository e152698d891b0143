"""Construction, configuration and the requests both clients send."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from mm_assistants._version import __version__
from mm_assistants.multimail import (
    AsyncMultiMailClient,
    MultiMailClient,
    NotFoundError,
    RetryPolicy,
)
from mm_assistants.tools.request import RequestSpec
from tests.multimail.conftest import BASE, KEY, Runner


async def close(client: Any) -> None:
    if isinstance(client, AsyncMultiMailClient):
        await client.aclose()
    else:
        client.close()


async def test_bearer_auth_user_agent_and_json(runner: Runner, api: respx.MockRouter) -> None:
    route = api.get("/v1/mailboxes").respond(
        200, json={"mailboxes": []}, headers={"x-request-id": "req_1"}
    )
    answer = await runner.call("request", "GET", "/v1/mailboxes")
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["user-agent"] == f"mm-assistants/{__version__}"
    assert sent.headers["accept"] == "application/json"
    assert (answer.status, answer.data, answer.text) == (200, {"mailboxes": []}, "")
    assert (answer.request_id, answer.headers["x-request-id"]) == ("req_1", "req_1")
    assert (answer.attempts, answer.elapsed >= 0) == (1, True)


async def test_a_custom_user_agent(runner: Runner, api: respx.MockRouter) -> None:
    route = api.get("/v1/account").respond(200, json={})
    await runner.call("request", "GET", "/v1/account", client={"user_agent": "my-bot/2"})
    assert route.calls.last.request.headers["user-agent"] == "my-bot/2"


async def test_send_uses_the_bound_request(runner: Runner, api: respx.MockRouter) -> None:
    route = api.post("/v1/mailboxes/m/send", params={"x": "1"}).respond(202, json={"id": "em_1"})
    spec = RequestSpec(
        tool="send_email",
        method="POST",
        path="/v1/mailboxes/m/send",
        params={"x": "1"},
        json={"to": ["a@b.c"], "subject": "Grüße"},
    )
    assert (await runner.call("send", spec)).data == {"id": "em_1"}
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {"to": ["a@b.c"], "subject": "Grüße"}


async def test_errors_of_a_tool_request_name_the_tool(
    runner: Runner, api: respx.MockRouter
) -> None:
    api.get("/v1/mailboxes/m/emails/e").respond(404, json={"error": "Email not found"})
    spec = RequestSpec(tool="read_email", method="GET", path="/v1/mailboxes/m/emails/e")
    with pytest.raises(NotFoundError) as info:
        await runner.call("send", spec)
    assert info.value.tool == "read_email"


async def test_a_get_sends_no_body_and_a_lowercase_method_works(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.get("/v1/contacts", params={"q": "ann"}).respond(200, json={"contacts": []})
    await runner.call("request", "get", "/v1/contacts", params={"q": "ann"})
    assert route.calls.last.request.content == b""
    assert "content-type" not in route.calls.last.request.headers


async def test_the_timeout_applies_to_each_attempt(runner: Runner, api: respx.MockRouter) -> None:
    route = api.get("/v1/account").respond(200, json={})
    await runner.call("request", "GET", "/v1/account", client={"timeout": 5})
    assert route.calls.last.request.extensions["timeout"] == dict.fromkeys(
        ("connect", "read", "write", "pool"), 5.0
    )


async def test_a_base_url_with_a_path_prefix(runner: Runner) -> None:
    with respx.mock(base_url="http://127.0.0.1:8025/api") as local:
        route = local.get("/v1/account").respond(200, json={})
        await runner.call(
            "request", "GET", "/v1/account", client={"base_url": "http://127.0.0.1:8025/api/"}
        )
    assert route.called


@pytest.mark.parametrize("path", ["https://elsewhere.example/v1/account", "v1/account"])
async def test_request_takes_only_paths_so_the_key_stays_home(runner: Runner, path: str) -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        await runner.call("request", "GET", path)


async def test_a_path_that_looks_like_a_host_stays_on_base_url(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.route().respond(200, json={})
    await runner.call("request", "GET", "//elsewhere.example/x")
    assert route.calls.last.request.url.host == "mm.test"


@pytest.mark.parametrize(
    ("method", "body", "safe"),
    [
        pytest.param("GET", None, True, id="get"),
        pytest.param("head", None, True, id="head"),
        pytest.param("PUT", {"tags": {}}, True, id="put"),
        pytest.param("DELETE", None, True, id="delete"),
        pytest.param("POST", {"to": []}, False, id="post"),
        pytest.param("POST", None, False, id="post-no-body"),
        pytest.param("POST", {"idempotency_key": ""}, False, id="post-empty-key"),
        pytest.param("POST", {"idempotency_key": "k"}, True, id="post-key"),
        pytest.param("PATCH", {"name": "x"}, False, id="patch"),
        pytest.param("PATCH", {"idempotency_key": "k"}, True, id="patch-key"),
    ],
)
def test_which_requests_are_retry_safe_by_default(
    method: str, body: dict[str, Any] | None, safe: bool
) -> None:
    with MultiMailClient(api_key=KEY) as client:
        assert client._api_call(method, "/p", None, body, None).retry_safe is safe
        assert client._api_call(method, "/p", None, body, not safe).retry_safe is not safe


async def test_missing_key_names_the_environment_variable(client_class: Any) -> None:
    with pytest.raises(ValueError, match="MULTIMAIL_API_KEY"):
        client_class()
    with pytest.raises(ValueError, match="MULTIMAIL_API_KEY"):
        client_class(api_key="  ")


async def test_a_malformed_key_is_refused_without_echoing_it(client_class: Any) -> None:
    for bad in ("mm_live_ab cd", "mm_live_\u00e9", "mm_live_\x00"):
        with pytest.raises(ValueError, match="copy it again") as info:
            client_class(api_key=bad)
        assert bad.strip() not in str(info.value)
    with pytest.raises(TypeError, match="api_key must be a string"):
        client_class(api_key=b"mm_live_x")


async def test_environment_fallbacks(client_class: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIMAIL_API_KEY", f" {KEY}\n")
    client = client_class()
    assert client.base_url == "https://api.multimail.dev"
    assert client._headers(client._api_call("GET", "/p", None, None, None))["Authorization"] == (
        f"Bearer {KEY}"
    )
    await close(client)
    monkeypatch.setenv("MULTIMAIL_API_URL", "http://127.0.0.1:8025/")
    client = client_class()
    assert client.base_url == "http://127.0.0.1:8025"
    await close(client)
    client = client_class(api_key="mm_test_other", base_url="https://api-staging.multimail.dev")
    assert client.base_url == "https://api-staging.multimail.dev"  # arguments win
    await close(client)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://mm.test", id="scheme"),
        pytest.param("api.multimail.dev", id="no-scheme"),
        pytest.param("https://", id="no-host"),
        pytest.param("http://[::1", id="unparsable"),
        pytest.param("https://user:pw@mm.test", id="credentials"),
        pytest.param("https://mm.test/?a=1", id="query"),
        pytest.param("https://mm.test/#top", id="fragment"),
    ],
)
async def test_base_url_must_be_a_plain_http_url(client_class: Any, url: str) -> None:
    with pytest.raises(ValueError, match="base_url") as info:
        client_class(api_key=KEY, base_url=url)
    assert "pw" not in str(info.value)


async def test_credentials_in_a_bad_base_url_are_not_echoed(client_class: Any) -> None:
    with pytest.raises(ValueError, match="not a URL with credentials") as info:
        client_class(api_key=KEY, base_url="ftp://user:pw@mm.test")
    assert "pw" not in str(info.value)


async def test_a_bad_url_from_the_environment_names_the_variable(
    client_class: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIMAIL_API_URL", "localhost:8025")
    with pytest.raises(ValueError, match="MULTIMAIL_API_URL must be an http"):
        client_class(api_key=KEY)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"timeout": 0}, ValueError, "timeout", id="zero-timeout"),
        pytest.param({"timeout": float("nan")}, ValueError, "timeout", id="nan-timeout"),
        pytest.param({"timeout": "30"}, TypeError, "timeout", id="text-timeout"),
        pytest.param({"timeout": True}, TypeError, "timeout", id="bool-timeout"),
        pytest.param({"retry": 3}, TypeError, "RetryPolicy", id="retry"),
        pytest.param({"retry": None}, TypeError, "RetryPolicy", id="retry-none"),
    ],
)
async def test_options_are_checked_at_construction(
    client_class: Any, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        client_class(api_key=KEY, **options)


def test_each_client_takes_its_own_kind_of_http_client() -> None:
    with pytest.raises(TypeError, match="goes with AsyncMultiMailClient"):
        MultiMailClient(api_key=KEY, http_client=httpx.AsyncClient())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="goes with MultiMailClient"), httpx.Client() as sync:
        AsyncMultiMailClient(api_key=KEY, http_client=sync)  # type: ignore[arg-type]


def test_a_callers_http_client_is_used_and_left_open(api: respx.MockRouter) -> None:
    api.get("/v1/account").respond(200, json={})
    with httpx.Client() as http:
        with MultiMailClient(api_key=KEY, base_url=BASE, http_client=http) as client:
            client.request("GET", "/v1/account")
        assert not http.is_closed
    with MultiMailClient(api_key=KEY, base_url=BASE) as client:
        pass
    assert client._http.is_closed


async def test_a_callers_async_http_client_is_used_and_left_open(api: respx.MockRouter) -> None:
    api.get("/v1/account").respond(200, json={})
    async with httpx.AsyncClient() as http:
        async with AsyncMultiMailClient(api_key=KEY, base_url=BASE, http_client=http) as client:
            await client.request("GET", "/v1/account")
        assert not http.is_closed
    async with AsyncMultiMailClient(api_key=KEY, base_url=BASE) as client:
        pass
    assert client._http.is_closed


def test_repr_shows_the_configuration_but_not_the_key() -> None:
    with MultiMailClient(api_key=KEY, retry=RetryPolicy.none()) as client:
        assert repr(client) == (
            "MultiMailClient(base_url='https://api.multimail.dev', api_key=<redacted>, "
            f"timeout=30.0, retry={RetryPolicy.none()!r})"
        )


@pytest.mark.parametrize(
    ("body", "content_type", "data", "text"),
    [
        pytest.param(b"", "application/json", None, "", id="empty"),
        pytest.param(b" [1, 2]", "", [1, 2], "", id="json-without-type"),
        pytest.param(b"{oops", "application/json", None, "{oops", id="broken-json"),
        pytest.param(b"plain", "text/plain", None, "plain", id="text"),
        pytest.param(
            "Grüße".encode("latin-1"), "text/plain; charset=latin-1", None, "Grüße", id="charset"
        ),
        pytest.param(
            "Grüße".encode(), 'text/plain; charset="utf-8"', None, "Grüße", id="quoted-charset"
        ),
        pytest.param(b"ok", "text/plain; charset=klingon", None, "ok", id="unknown-charset"),
        pytest.param(b"ok", "text/plain; format=flowed", None, "ok", id="other-parameter"),
    ],
)
async def test_answers_that_are_not_json(
    runner: Runner, api: respx.MockRouter, body: bytes, content_type: str, data: Any, text: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    api.get("/v1/account").respond(200, content=body, headers=headers)
    answer = await runner.call("request", "GET", "/v1/account")
    assert (answer.data, answer.text, answer.content) == (data, text, body)


async def test_the_async_client_keeps_at_most_max_in_flight_requests_in_its_pool() -> None:
    import asyncio

    import httpx

    from mm_assistants.multimail import AsyncMultiMailClient

    inside = 0
    most = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.01)
        inside -= 1
        return httpx.Response(200, json={"mailboxes": []})

    http = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    async with AsyncMultiMailClient(
        api_key="mm_test_key", base_url="https://mm.test", http_client=http, max_in_flight=3
    ) as client:
        answers = await asyncio.gather(*(client.request("GET", "/v1/mailboxes") for _ in range(20)))
    await http.aclose()
    assert [a.status for a in answers] == [200] * 20  # every request ran, none was dropped
    assert most == 3


def test_max_in_flight_must_be_a_positive_int() -> None:
    import pytest

    from mm_assistants.multimail import AsyncMultiMailClient

    with pytest.raises(ValueError, match="max_in_flight"):
        AsyncMultiMailClient(api_key="mm_test_key", max_in_flight=0)
