"""fetch_url follows redirects by hand: only back to the API's own origin, at most three
hops, never with the key on a signed link's hops; anything else is `RedirectRefused`
before a single request reaches the redirect's target."""

from __future__ import annotations

import httpx
import pytest
import respx

from mm_assistants.multimail import (
    APIStatusError,
    MultiMailClient,
    RedirectRefused,
    TransportError,
)
from mm_assistants.multimail.redirects import MAX_REDIRECTS, is_loopback, redirect_target
from tests.multimail.conftest import BASE, KEY, Runner

ORIGIN = ("https", "mm.test", None)


def hop(location: str, status: int = 302) -> httpx.Response:
    # Raw bytes, as a hostile server may send them (httpx would refuse non-ASCII text here).
    return httpx.Response(status, headers=[(b"location", location.encode("utf-8"))])


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    ("send_key", "authorization"),
    [pytest.param(True, f"Bearer {KEY}", id="keyed"), pytest.param(False, None, id="signed")],
)
async def test_a_hop_on_the_api_origin_is_followed_keeping_the_key_choice(
    runner: Runner,
    api: respx.MockRouter,
    status: int,
    send_key: bool,
    authorization: str | None,
) -> None:
    api.get("/v1/downloads/a").mock(return_value=hop("/v1/blobs/a?sig=2", status))
    blob = api.get("/v1/blobs/a").respond(200, content=b"%PDF")

    answer = await runner.call("fetch_url", f"{BASE}/v1/downloads/a?t=1", send_key=send_key)

    assert answer.content == b"%PDF"
    assert blob.calls.last.request.url.params["sig"] == "2"
    assert blob.calls.last.request.headers.get("authorization") == authorization


@pytest.mark.parametrize(
    "location",
    [
        pytest.param("http://169.254.169.254/latest/meta-data/", id="metadata"),
        pytest.param("http://mm.test/v1/blobs/a", id="http-downgrade"),
        pytest.param("https://mm.test:8443/v1/blobs/a", id="other-port"),
        pytest.param("https://storage.example/blob?sig=2", id="other-host"),
        pytest.param("https://mm.test.evil.example/a", id="lookalike"),
        pytest.param("https://user:pw@mm.test/a", id="userinfo"),
        pytest.param("//evil.example/a", id="scheme-relative"),
        pytest.param("https://xn--pi-7ba.mm.test/a", id="bad-idna"),
        pytest.param("https://[::1/a", id="unparsable"),
        pytest.param("https://mm.test:99999/a", id="bad-port"),
        pytest.param("https://mm.test\u3002evil.example/a", id="ideographic-dot"),
        pytest.param("file:///etc/passwd", id="file"),
    ],
)
async def test_a_hop_anywhere_else_is_refused_without_a_request(
    runner: Runner, api: respx.MockRouter, location: str
) -> None:
    api.get("/v1/downloads/a").mock(return_value=hop(location))
    with respx.mock(assert_all_called=False) as elsewhere:
        # Every other host answers, so a followed hop would be seen (and would succeed).
        anywhere = elsewhere.route().respond(200, content=b"SECRET")
        # httpx itself rejects a Location it cannot parse as a protocol error (retried, then
        # a TransportError); one it parses but cannot decode is refused like a foreign one.
        with pytest.raises((RedirectRefused, TransportError)) as refused:
            await runner.call("fetch_url", f"{BASE}/v1/downloads/a?t=1", send_key=False)

    assert not anywhere.called
    assert refused.value.status in (302, None)
    assert "t=1" not in str(refused.value)


async def test_hops_are_bounded(runner: Runner, api: respx.MockRouter) -> None:
    loop = api.get(url__regex=r"/v1/hop/\d+").mock(
        side_effect=[hop(f"/v1/hop/{n + 1}") for n in range(MAX_REDIRECTS + 2)]
    )

    with pytest.raises(RedirectRefused, match=f"more than {MAX_REDIRECTS} hops"):
        await runner.call("fetch_url", "/v1/hop/0")

    assert loop.call_count == MAX_REDIRECTS + 1


async def test_a_redirect_without_a_location_is_an_error(
    runner: Runner, api: respx.MockRouter
) -> None:
    api.get("/v1/downloads/a").respond(302)
    with pytest.raises(APIStatusError) as failed:
        await runner.call("fetch_url", "/v1/downloads/a")
    assert failed.value.status == 302
    assert not isinstance(failed.value, RedirectRefused)


async def test_api_calls_never_follow_a_redirect(runner: Runner, api: respx.MockRouter) -> None:
    api.get("/v1/account").mock(return_value=hop("/v1/elsewhere"))
    elsewhere = api.get("/v1/elsewhere").respond(200, json={})
    with pytest.raises(APIStatusError):
        await runner.call("request", "GET", "/v1/account")
    assert not elsewhere.called


def test_plain_http_hops_only_on_a_loopback_origin() -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get("http://127.0.0.1:8080/d").mock(return_value=hop("/blob"))
        mock.get("http://127.0.0.1:8080/blob").respond(200, content=b"local")
        mock.get("http://mm.internal/d").mock(return_value=hop("/blob"))
        remote = mock.get("http://mm.internal/blob").respond(200, content=b"remote")
        with MultiMailClient(api_key=KEY, base_url="http://127.0.0.1:8080") as local:
            assert local.fetch_url("/d").content == b"local"
        with (
            MultiMailClient(api_key=KEY, base_url="http://mm.internal") as plain,
            pytest.raises(RedirectRefused),
        ):
            plain.fetch_url("/d")
    assert not remote.called


@pytest.mark.parametrize(
    ("location", "followed"),
    [
        ("/b", "https://mm.test/b"),
        ("b?x=1", "https://mm.test/dir/b?x=1"),
        ("https://MM.test:443/b", "https://mm.test/b"),
        ("http://mm.test/b", None),
        ("https://mm.test./b", None),
        ("https://xn--pi-7ba.mm.test/b", None),
        ("https://\udcff/b", None),
        ("http://[::1]:99999/", None),
        ("", "https://mm.test/dir/a"),
    ],
)
def test_redirect_target(location: str, followed: str | None) -> None:
    target = redirect_target(location, "https://mm.test/dir/a", ORIGIN)
    assert (None if target is None else str(target)) == followed


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.9", True), ("::1", True), ("10.0.0.1", False), ("x", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
