"""``MultiMailClient.without_key()``: a signup's client sends no key, not even an empty one."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from mm_assistants.multimail import AsyncMultiMailClient, AuthenticationError, MultiMailClient
from tests.multimail.conftest import BASE, KEY


async def call(client_class: Any, method: str, path: str) -> Any:
    if client_class is MultiMailClient:
        with MultiMailClient.without_key(base_url=BASE) as client:
            return client.request(method, path)
    async with AsyncMultiMailClient.without_key(base_url=BASE) as aclient:
        return await aclient.request(method, path)


async def test_no_authorization_header_is_sent(
    client_class: Any, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIMAIL_API_KEY", KEY)  # another account's key: never read
    route = api.post("/v1/account/challenge").respond(200, json={"challenge": "c"})
    answer = await call(client_class, "POST", "/v1/account/challenge")
    assert answer.data == {"challenge": "c"}
    assert "authorization" not in route.calls.last.request.headers
    assert KEY not in str(route.calls.last.request.headers)


async def test_an_endpoint_that_needs_a_key_answers_401(
    client_class: Any, api: respx.MockRouter
) -> None:
    api.get("/v1/account").respond(401, json={"error": "Missing API key"})
    with pytest.raises(AuthenticationError):
        await call(client_class, "GET", "/v1/account")


def test_it_says_it_has_no_key(client_class: Any) -> None:
    keyless = client_class.without_key(base_url=BASE)
    keyed = client_class(api_key=KEY, base_url=BASE)
    assert (keyless.has_key, keyed.has_key) == (False, True)
    assert "api_key=None" in repr(keyless)
    assert "api_key=None" not in repr(keyed)
    assert KEY not in repr(keyed)
    # the way in is the constructor: a blank key is still a mistake, never "no key"
    with pytest.raises(ValueError, match="No MultiMail API key"):
        client_class(api_key=" ", base_url=BASE)
