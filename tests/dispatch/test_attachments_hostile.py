"""download_attachment against a hostile or broken MultiMail answer: a redirect off the
API's origin is never followed (the file is described instead), and no link or Location
(malformed hosts included) raises out of dispatch: every case is an output."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
import respx

from mm_assistants.dispatch.attachments import same_origin
from tests.dispatch.conftest import BASE, Harness, call
from tests.dispatch.test_attachments import BYTE_ROUTE, SIGNED, URL_STEP, download, link

METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/role"
HOSTILE_URLS = [
    "https://xn--pi-7ba.mm.test/a.pdf?token=t",  # IDNA: decoding the host raises
    "https://xn--pi-7ba/a.pdf",
    "https://xn--/a.pdf",
    "https://mm.test\udcff/a.pdf",
    "https://\u0000/a.pdf",
    "https://[::1/a.pdf",
    "https://mm.test:99999/a.pdf",
    "https://mm.test:-1/a.pdf",
    "https://user:pw@mm.test/a.pdf",
    "https:/\\mm.test/a.pdf",
    "http://mm.test/a.pdf",
    "https://mm.test./a.pdf",
    "https://MM.TEST.evil.example/a.pdf",
    "https://evil.example#@mm.test/a.pdf",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "//mm.test/a.pdf",
    "/v1/downloads/a.pdf",
    " ",
    "\u202ehttps://mm.test/a.pdf",
    "https://" + "a" * 300 + ".example/a.pdf",
    "https://mm.test/" + "%" * 50,
]


def foreign(request: httpx.Request) -> httpx.Response:
    """Any host but the API's answers (so a request there would succeed and be seen); a
    path of the API's own that no route mocks is a 404."""
    if request.url.host == "mm.test":
        return httpx.Response(404, json={"error": "Not found"})
    return httpx.Response(200, content=b"evil")


def outside(route: respx.Route) -> list[str]:
    return [str(c.request.url) for c in route.calls if c.request.url.host != "mm.test"]


def redirected(location: str) -> httpx.Response:
    return httpx.Response(302, headers=[(b"location", location.encode("utf-8", "surrogatepass"))])


def test_a_redirect_to_the_metadata_address_is_not_followed(
    harness: Harness, api: respx.MockRouter
) -> None:
    # The review's finding 4: the signed link answered 302 to an internal address.
    link(api)
    api.get("/v1/downloads/a.pdf").mock(return_value=redirected(METADATA))
    with respx.mock(assert_all_called=False) as inside:
        metadata = inside.get(METADATA).respond(text='{"SecretAccessKey":"s3cr3t"}')
        result, output = download(harness)

    assert not metadata.called
    assert result.ok
    assert "content_base64" not in output["untrusted"]
    assert output["untrusted"]["filename"] == "a.pdf"
    assert output["size_bytes"] == 10
    assert "redirected" in output["note"]
    assert "169.254" not in result.output
    assert "s3cr3t" not in result.output


def test_a_redirect_on_the_api_origin_is_followed_without_the_key(
    harness: Harness, api: respx.MockRouter
) -> None:
    link(api)
    api.get("/v1/downloads/a.pdf").mock(return_value=redirected("/v1/blobs/a.pdf?sig=2"))
    blob = api.get("/v1/blobs/a.pdf").respond(200, content=b"%PDF-1")
    result, output = download(harness)

    assert base64.b64decode(output["untrusted"]["content_base64"]) == b"%PDF-1"
    assert "authorization" not in blob.calls.last.request.headers  # a signed link's hop
    assert "sig=2" not in result.output


def test_the_keyed_route_does_not_follow_a_redirect_elsewhere_either(
    harness: Harness, api: respx.MockRouter
) -> None:
    link(api, url="https://cdn.example/a.pdf?token=t")  # foreign: the keyed route instead
    api.get(BYTE_ROUTE).mock(return_value=redirected("https://cdn.example/a.pdf"))
    with respx.mock(assert_all_called=False) as elsewhere:
        cdn = elsewhere.route(host="cdn.example").respond(200, content=b"x")
        _, output = download(harness)
    assert not cdn.called
    assert "content_base64" not in output["untrusted"]


def test_a_link_with_a_malformed_idna_host_is_an_output_not_an_exception(
    harness: Harness, api: respx.MockRouter
) -> None:
    # The review's finding 5: decoding xn--pi-7ba raised idna's InvalidCodepoint out of
    # Dispatcher.dispatch. Not the API's origin: the keyed byte route is read instead.
    link(api, url="https://xn--pi-7ba.mm.test/a.pdf?token=t")
    byte_route = api.get(BYTE_ROUTE).respond(200, content=b"data")
    result, output = download(harness)
    assert byte_route.called
    assert base64.b64decode(output["untrusted"]["content_base64"]) == b"data"
    assert "xn--" not in result.output


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_hostile_link_never_raises_and_never_leaves_the_api(
    harness: Harness, api: respx.MockRouter, url: str
) -> None:
    # ASCII-escaped JSON, so even a lone surrogate arrives as MultiMail could send it.
    answer = {"url": url, "filename": "a.pdf", "size_bytes": 4}
    api.get(URL_STEP).respond(200, content=json.dumps(answer).encode())
    api.get(BYTE_ROUTE).respond(200, content=b"data")
    api.get(url__startswith=f"{BASE}/v1/downloads/").respond(200, content=b"data")
    with respx.mock(assert_all_called=False) as elsewhere:
        anywhere = elsewhere.route().mock(side_effect=foreign)
        result = harness.run(call("download_attachment", {"email_id": "em_1", "filename": "a.pdf"}))
    assert outside(anywhere) == []
    assert isinstance(json.loads(result.output), dict)
    assert "evil" not in result.output


@pytest.mark.parametrize("location", [METADATA, *HOSTILE_URLS])
def test_a_hostile_redirect_never_raises_and_never_leaves_the_api(
    harness: Harness, api: respx.MockRouter, location: str
) -> None:
    link(api)
    api.get("/v1/downloads/a.pdf").mock(return_value=redirected(location))
    api.get(BYTE_ROUTE).respond(200, content=b"data")
    with respx.mock(assert_all_called=False) as elsewhere:
        anywhere = elsewhere.route().mock(side_effect=foreign)
        result, output = download(harness)
    assert outside(anywhere) == []
    assert "evil" not in result.output
    assert "ZXZpbA" not in result.output  # nor its base64
    assert output.get("error", {}).get("type") in (None, "api_error", "network_error")


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_same_origin_is_false_for_hostile_urls(url: str) -> None:
    assert same_origin(url, BASE) is (url == "https://mm.test/" + "%" * 50)


def test_same_origin_accepts_the_signed_link() -> None:
    assert same_origin(SIGNED, BASE)
    assert same_origin(SIGNED, "https://MM.test:443/")
    assert not same_origin(URL_STEP, BASE)  # a path is not a link
