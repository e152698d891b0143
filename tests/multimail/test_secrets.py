"""The API key appears in no repr, exception text or log record; bodies stay out of logs."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import respx

from mm_assistants.multimail import (
    ApiResponse,
    AsyncMultiMailClient,
    AuthenticationError,
    MultiMailError,
    TransportError,
)
from tests.multimail.conftest import KEY, Runner

BODY_SECRET = "the-quarterly-numbers-are-bad"


def every_text(error: BaseException) -> str:
    return " ".join([str(error), repr(error), repr(vars(error))])


async def test_no_repr_shows_the_key(client_class: Any) -> None:
    client = client_class(api_key=KEY)
    assert KEY not in repr(client)
    assert KEY not in str(vars(client).get("base_url"))
    if isinstance(client, AsyncMultiMailClient):
        await client.aclose()
    else:
        client.close()


def test_an_answers_repr_shows_no_content() -> None:
    answer = ApiResponse(status=200, data={"markdown": BODY_SECRET}, content=BODY_SECRET.encode())
    assert BODY_SECRET not in repr(answer)
    assert repr(answer) == (
        "ApiResponse(status=200, bytes=29, request_id=None, attempts=1, elapsed=0.000, "
        "truncated=False)"
    )


async def test_a_key_echoed_by_the_api_is_scrubbed_from_the_error(
    runner: Runner, api: respx.MockRouter
) -> None:
    api.get("/v1/account").respond(
        401,
        json={"error": f"Invalid key {KEY}", "key": KEY, "seen": [KEY], KEY: 1, "n": 2},
    )
    with pytest.raises(AuthenticationError) as info:
        await runner.call("request", "GET", "/v1/account")
    assert KEY not in every_text(info.value)
    assert info.value.error == "Invalid key <redacted>"
    assert info.value.details == {
        "key": "<redacted>",
        "seen": ["<redacted>"],
        "<redacted>": 1,
        "n": 2,
    }


async def test_a_key_inside_an_httpx_message_is_scrubbed(
    runner: Runner, api: respx.MockRouter
) -> None:
    api.post("/v1/mailboxes/m/send").mock(side_effect=httpx.ReadError(f"weird proxy said {KEY}"))
    with pytest.raises(TransportError) as info:
        await runner.call("request", "POST", "/v1/mailboxes/m/send", json={"to": []})
    assert KEY not in every_text(info.value)
    assert "weird proxy said <redacted>" in str(info.value)


async def test_logs_carry_neither_the_key_nor_bodies(
    runner: Runner, api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.post("/v1/mailboxes/m/send").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(429, json={"error": BODY_SECRET}, headers={"Retry-After": "0"}),
            httpx.Response(500, text=BODY_SECRET),
        ]
    )
    api.get("/files/a").respond(200, content=BODY_SECRET.encode())
    body = {"to": ["a@b.c"], "markdown": BODY_SECRET, "idempotency_key": "k"}
    with pytest.raises(MultiMailError) as info:
        await runner.call("request", "POST", "/v1/mailboxes/m/send", json=body)
    await runner.call("fetch_url", "/files/a")
    records = [r for r in caplog.records if r.name == "mm_assistants.multimail"]
    assert len(records) == 4  # one per attempt: three sends, one download
    for record in caplog.records:  # every logger, httpx's own included
        text = " ".join([record.getMessage(), repr(record.args), record.exc_text or ""])
        assert KEY not in text
        assert BODY_SECRET not in text
    assert KEY not in every_text(info.value)
