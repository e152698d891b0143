"""`mm_assistants.cli.preflight`: is the URL MultiMail's, and does it take the key?"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from mm_assistants.cli.errors import CONFIGURATION, REFUSED, CliError
from mm_assistants.cli.preflight import check_multimail, is_multimail, judge
from mm_assistants.multimail import MultiMailClient
from mm_assistants.multimail.errors import TransportError
from mm_assistants.multimail.retries import RetryPolicy

BASE = "https://mm.test"


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        pytest.param(200, {"id": "tnt_1", "plan": "pro"}, "ok", id="account"),
        pytest.param(403, None, "ok", id="key-without-read"),
        pytest.param(500, None, "ok", id="server-trouble-is-no-evidence"),
        pytest.param(401, None, "bad_key", id="refused-key"),
        pytest.param(404, None, "not_multimail", id="no-such-path"),
        pytest.param(405, None, "not_multimail", id="method-not-allowed"),
        pytest.param(302, None, "not_multimail", id="redirect"),
        pytest.param(200, None, "not_multimail", id="a-web-page"),
        pytest.param(200, ["a", "list"], "not_multimail", id="not-an-object"),
    ],
)
def test_judge(status: int, body: Any, verdict: str) -> None:
    assert judge(status, body) == verdict


def client() -> MultiMailClient:
    return MultiMailClient(api_key="mm_test_k", base_url=BASE, retry=RetryPolicy(max_attempts=1))


@respx.mock
@pytest.mark.parametrize(
    ("answer", "code", "words"),
    [
        pytest.param(httpx.Response(401, json={"error": "Invalid"}), REFUSED, "key", id="401"),
        pytest.param(
            httpx.Response(404, json={"error": {"message": "Invalid URL"}}),
            CONFIGURATION,
            "does not look like MultiMail's API: check --base-url / MULTIMAIL_API_URL",
            id="404",
        ),
    ],
)
def test_a_wrong_setup_is_a_cli_error(answer: httpx.Response, code: int, words: str) -> None:
    respx.get(f"{BASE}/v1/account").mock(return_value=answer)
    with client() as mm, pytest.raises(CliError) as raised:
        check_multimail(mm)
    assert raised.value.code == code
    assert words in str(raised.value)
    assert "mm_test_k" not in str(raised.value)


@respx.mock
def test_multimail_with_a_good_key_passes() -> None:
    respx.get(f"{BASE}/v1/account").mock(return_value=httpx.Response(200, json={"id": "t"}))
    with client() as mm:
        check_multimail(mm)
        assert is_multimail(mm)


@respx.mock
def test_an_unreachable_server_is_left_to_the_caller() -> None:
    respx.get(f"{BASE}/v1/account").mock(side_effect=httpx.ConnectError("refused"))
    with client() as mm:
        with pytest.raises(TransportError):
            check_multimail(mm)
        assert is_multimail(mm)  # no evidence that it is another server
