"""fetch_url: raw downloads, and the key only ever to MultiMail's own origin."""

from __future__ import annotations

import httpx
import pytest
import respx

from mm_assistants.multimail import NotFoundError, RedirectRefused, TransportError
from tests.multimail.conftest import KEY, Runner


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("/files/a", id="path"),
        pytest.param("https://mm.test/files/a?sig=1", id="absolute"),
        pytest.param("https://MM.test:443/files/a", id="default-port"),
    ],
)
async def test_the_key_goes_to_multimail_itself(
    runner: Runner, api: respx.MockRouter, url: str
) -> None:
    route = api.get("/files/a").respond(200, content=b"%PDF-1.7")
    answer = await runner.call("fetch_url", url)
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    assert (answer.content, answer.truncated) == (b"%PDF-1.7", False)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://cdn.example/a?sig=1", id="other-host"),
        pytest.param("https://mm.test:8443/a", id="other-port"),
        pytest.param("http://mm.test/a", id="other-scheme"),
        pytest.param("https://mm.test.evil.example/a", id="lookalike"),
    ],
)
async def test_the_key_never_goes_to_another_origin(runner: Runner, url: str) -> None:
    with respx.mock() as anywhere:
        route = anywhere.route().respond(200, content=b"xyz")
        answer = await runner.call("fetch_url", url)
    assert answer.content == b"xyz"
    assert "authorization" not in route.calls.last.request.headers


async def test_a_redirect_away_from_multimail_is_not_followed(runner: Runner) -> None:
    # Redirects are followed only back to the API's origin (tests/multimail/test_redirects.py).
    with respx.mock(assert_all_called=False) as anywhere:
        anywhere.get("https://mm.test/files/a").respond(
            302, headers={"location": "https://storage.example/blob?sig=2"}
        )
        blob = anywhere.get("https://storage.example/blob").respond(200, content=b"blob")
        with pytest.raises(RedirectRefused) as refused:
            await runner.call("fetch_url", "/files/a")
    assert not blob.called
    assert refused.value.status == 302
    assert "storage.example" not in str(refused.value)


async def test_bytes_are_returned_raw_with_their_headers(
    runner: Runner, api: respx.MockRouter
) -> None:
    api.get("/files/data.json").respond(
        200,
        content=b'{"not": "decoded"}',
        headers={
            "content-type": "application/json",
            "content-disposition": 'attachment; filename="data.json"',
            "set-cookie": "session=1",
        },
    )
    answer = await runner.call("fetch_url", "/files/data.json")
    assert (answer.data, answer.text, answer.content) == (None, "", b'{"not": "decoded"}')
    assert answer.headers == {
        "content-type": "application/json",
        "content-length": "18",
        "content-disposition": 'attachment; filename="data.json"',
    }


@pytest.mark.parametrize(
    ("max_bytes", "size", "truncated"),
    [(100, 100, True), (10_000, 10_000, False), (0, 0, True), (None, 10_000, False)],
)
async def test_max_bytes_stops_the_download(
    runner: Runner,
    api: respx.MockRouter,
    max_bytes: int | None,
    size: int,
    truncated: bool,
) -> None:
    api.get("/files/big").respond(200, content=b"x" * 10_000)
    answer = await runner.call("fetch_url", "/files/big", max_bytes=max_bytes)
    assert (answer.content, answer.truncated) == (b"x" * size, truncated)


async def test_errors_and_retries_show_no_signature(runner: Runner, api: respx.MockRouter) -> None:
    route = api.get("/files/gone").mock(
        side_effect=[httpx.Response(503), httpx.Response(404, json={"error": "Link expired"})]
    )
    with pytest.raises(NotFoundError) as info:
        await runner.call("fetch_url", "https://mm.test/files/gone?sig=secret#frag")
    assert str(info.value) == "GET https://mm.test/files/gone -> 404: Link expired"
    assert route.call_count == 2  # a download is a GET: safe to retry
    with respx.mock() as anywhere:
        anywhere.route().mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(TransportError) as failed:
            await runner.call("fetch_url", "https://u:pw@cdn.example:8080/a%20b?sig=secret")
    assert str(failed.value).startswith("GET https://cdn.example:8080/a%20b could not connect")
    assert "secret" not in str(failed.value)
    assert "pw" not in str(failed.value)


@pytest.mark.parametrize(
    ("url", "max_bytes", "match"),
    [
        pytest.param("ftp://mm.test/a", None, "http", id="scheme"),
        pytest.param("files/a", None, "http", id="relative"),
        pytest.param("https:///a", None, "http", id="no-host"),
        pytest.param("http://[::1/a", None, "http", id="unparsable"),
        pytest.param("/files/a", -1, "max_bytes", id="negative"),
        pytest.param("/files/a", True, "max_bytes", id="bool"),
    ],
)
async def test_bad_arguments(runner: Runner, url: str, max_bytes: int | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        await runner.call("fetch_url", url, max_bytes=max_bytes)
