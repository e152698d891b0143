"""The exception tree: which answer becomes which error, and what each error carries."""

from __future__ import annotations

import pickle

import pytest
import respx

import mm_assistants.multimail as multimail
from mm_assistants.multimail import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    MultiMailError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from mm_assistants.multimail.errors import error_from_response
from tests.multimail.conftest import Runner

STATUS_ERRORS = [
    pytest.param(400, BadRequestError, id="400"),
    pytest.param(401, AuthenticationError, id="401"),
    pytest.param(403, PermissionDeniedError, id="403"),
    pytest.param(404, NotFoundError, id="404"),
    pytest.param(409, ConflictError, id="409"),
    pytest.param(413, PayloadTooLargeError, id="413"),
    pytest.param(422, BadRequestError, id="422"),
    pytest.param(418, APIStatusError, id="418-other"),
    pytest.param(302, APIStatusError, id="302-not-followed"),
    pytest.param(500, ServerError, id="500"),
    pytest.param(503, ServerError, id="503"),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_ERRORS)
async def test_each_status_raises_its_error_with_context(
    runner: Runner, api: respx.MockRouter, status: int, cls: type[MultiMailError]
) -> None:
    route = api.get("/v1/account").respond(
        status, json={"error": "nope", "hint": "h"}, headers={"x-request-id": "req_9"}
    )
    with pytest.raises(cls) as info:
        await runner.call("request", "GET", "/v1/account", client={"retry": RetryPolicy.none()})
    error = info.value
    assert type(error) is cls
    assert (error.status, error.error, error.method, error.path) == (
        status,
        "nope",
        "GET",
        "/v1/account",
    )
    assert (error.details, error.request_id, error.retry_after) == ({"hint": "h"}, "req_9", None)
    assert str(error) == f"GET /v1/account -> {status}: nope"
    assert route.call_count == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
async def test_4xx_is_never_retried_even_when_safe(
    runner: Runner, api: respx.MockRouter, status: int
) -> None:
    route = api.put("/v1/mailboxes/m/emails/e/tags").respond(status, json={"error": "no"})
    with pytest.raises(APIStatusError):
        await runner.call("request", "PUT", "/v1/mailboxes/m/emails/e/tags", json={"tags": {}})
    assert (route.call_count, runner.sleeps) == (1, [])


async def test_a_read_only_mailbox_reads_well(runner: Runner, api: respx.MockRouter) -> None:
    api.post("/v1/mailboxes/mbx_1/send").respond(
        403, json={"error": "Mailbox is read_only"}, headers={"cf-ray": "8a1b-FRA"}
    )
    with pytest.raises(PermissionDeniedError) as info:
        await runner.call("request", "POST", "/v1/mailboxes/mbx_1/send", json={"to": []})
    assert str(info.value) == "POST /v1/mailboxes/mbx_1/send -> 403: Mailbox is read_only"
    assert info.value.request_id == "8a1b-FRA"


async def test_non_json_error_bodies(runner: Runner, api: respx.MockRouter) -> None:
    page = "<html>\n  <body>Bad   gateway</body>\n</html>"
    api.post("/v1/oversight/decide").respond(502, text=page, headers={"content-type": "text/html"})
    api.get("/v1/account").respond(401)
    with pytest.raises(ServerError) as info:
        await runner.call("request", "POST", "/v1/oversight/decide", json={"email_id": "e"})
    assert info.value.error == "<html> <body>Bad gateway</body> </html>"
    with pytest.raises(AuthenticationError) as empty:
        await runner.call("request", "GET", "/v1/account")
    assert (empty.value.error, str(empty.value)) == (None, "GET /v1/account -> 401")


@pytest.mark.parametrize(
    ("body", "error", "details"),
    [
        pytest.param({"error": {"message": "bad"}}, "bad", {}, id="nested"),
        pytest.param({"error": 42, "field": "to"}, "42", {"field": "to"}, id="not-text"),
        pytest.param({"message": "x"}, None, {"message": "x"}, id="no-error-field"),
        pytest.param(["a"], None, {}, id="list"),
        pytest.param("x" * 600, "x" * 500, {}, id="long-text"),
        pytest.param("  ", None, {}, id="blank"),
        pytest.param(None, None, {}, id="none"),
    ],
)
def test_error_bodies_of_any_shape(body: object, error: str | None, details: object) -> None:
    made = error_from_response(400, body, {}, "GET", "/p")
    assert (made.error, made.details) == (error, details)


@pytest.mark.parametrize(
    ("status", "cls"),
    [(599, ServerError), (600, APIStatusError), (304, APIStatusError), (429, RateLimitError)],
)
def test_the_class_for_unusual_statuses(status: int, cls: type[MultiMailError]) -> None:
    assert type(error_from_response(status, None, {}, "GET", "/p")) is cls


def test_error_from_response_reads_the_headers() -> None:
    headers = {"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT", "x-request-id": "r", "cf-ray": "c"}
    error = error_from_response(429, {}, headers, "GET", "/p", now=1445412480.0, tool="t")
    assert (error.retry_after, error.request_id, error.tool) == (10.0, "r", "t")
    # Without a clock an HTTP date cannot be read: no guess is made.
    assert error_from_response(429, {}, headers, "GET", "/p").retry_after is None


def test_rate_limits_tell_quota_from_warm_up() -> None:
    warmup = {"error": "Warm-up limit", "warmup_stage": 1, "daily_sent": 20, "daily_limit": 20}
    error = error_from_response(429, warmup, {"retry-after": "30"}, "POST", "/p")
    assert isinstance(error, RateLimitError)
    assert (error.is_warmup, error.is_quota, error.retry_after) == (True, False, 30.0)
    quota = error_from_response(429, {"error": "Monthly QUOTA exceeded"}, {}, "POST", "/p")
    assert isinstance(quota, RateLimitError)
    assert (quota.is_warmup, quota.is_quota) == (False, True)
    assert not RateLimitError("m").is_quota


def test_errors_survive_pickling() -> None:
    for error in (
        error_from_response(429, {"error": "slow", "daily_limit": 5}, {}, "GET", "/p"),
        TransportError("POST /p failed", outcome_unknown=True, method="POST", path="/p"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), str(copy), vars(copy)) == (type(error), str(error), vars(error))


def test_the_tree() -> None:
    status_errors = {
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        PayloadTooLargeError,
        RateLimitError,
        ServerError,
    }
    assert all(issubclass(cls, APIStatusError) for cls in status_errors)
    assert issubclass(APIStatusError, MultiMailError)
    assert issubclass(TransportError, MultiMailError)
    assert not issubclass(TransportError, APIStatusError)
    # Every class of the tree is drawn in the module's docstring.
    doc = multimail.errors.__doc__ or ""
    assert all(cls.__name__ in doc for cls in status_errors | {APIStatusError, TransportError})


def test_the_public_names() -> None:
    assert multimail.__all__ == sorted(multimail.__all__)
    assert set(multimail.__all__) == {
        "APIStatusError",
        "ApiResponse",
        "AsyncMultiMailClient",
        "AuthenticationError",
        "BadRequestError",
        "ConflictError",
        "MultiMailClient",
        "MultiMailError",
        "NotFoundError",
        "PayloadTooLargeError",
        "PermissionDeniedError",
        "RateLimitError",
        "RedirectRefused",
        "RequestCancelled",
        "RetryPolicy",
        "ServerError",
        "TransportError",
    }
    assert all(getattr(multimail, name).__doc__ for name in multimail.__all__)
