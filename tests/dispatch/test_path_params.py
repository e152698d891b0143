"""Through the dispatcher, a hostile path value sends nothing (issue 11, item 1).

Every hostile value of the fuzz corpus, in every path parameter of every tool, is either
refused as ``invalid_arguments`` naming the argument with no HTTP request at all, or sent
as a request whose path keeps exactly the template's segments.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from mm_assistants.dispatch import AsyncDispatcher, Dispatcher, ToolResult
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient
from tests.dispatch.conftest import BASE, FAST_RETRY, KEY, Harness, call
from tests.tools.path_cases import HOSTILE_VALUES, PathCase, path_cases

CASES = [pytest.param(case, id=case.id) for case in path_cases()]


def run_all(case: PathCase, values: tuple[str, ...]) -> list[tuple[str, ToolResult, list[str]]]:
    """Each value through a sync dispatcher: (value, result, raw paths it requested)."""
    outcomes = []
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        route = api.route().respond(404, json={"error": "not found"})
        with MultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
            # No default mailbox: the scope is then any mailbox, so the path check alone
            # stands between a hostile mailbox_id and the request.
            dispatcher = Dispatcher(
                client, tools=[case.tool], profile=None, allow_self_approval=True
            )
            for value in values:
                before = len(route.calls)
                arguments = json.dumps(case.with_value(value))
                result = dispatcher.dispatch(call(case.tool, arguments))
                sent = [c.request.url.raw_path.decode() for c in route.calls[before:]]
                outcomes.append((value, result, sent))
    return outcomes


def names_the_argument(result: ToolResult, parameter: str) -> bool:
    error = json.loads(result.output)["error"]
    paths = [detail.get("path", "") for detail in error["details"]]
    return parameter in error["message"] or any(parameter in path for path in paths)


@pytest.mark.parametrize("case", CASES)
def test_a_refused_value_sends_no_request_and_an_accepted_one_keeps_its_segment(
    case: PathCase,
) -> None:
    for value, result, sent in run_all(case, HOSTILE_VALUES):
        if result.error_type == "invalid_arguments":
            assert sent == [], (value, sent)
            assert names_the_argument(result, case.parameter), (value, result.output)
            continue
        assert sent, (value, result.output)  # an accepted value reaches MultiMail
        segments = case.template.split("/")
        got = sent[0].split("?")[0].split("/")
        assert len(got) == len(segments), (value, sent[0])
        index = segments.index("{" + case.parameter + "}")
        assert got[index].strip(".") != "", (value, sent[0])


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        pytest.param(
            "tag_email",
            {"email_id": "..", "action": "delete", "key": "..", "mailbox_id": "mbx_1"},
            "email_id",
            id="tag-delete-mailbox",
        ),
        pytest.param(
            "reply_email",
            {"email_id": "..", "markdown": "hi", "mailbox_id": "mbx_1"},
            "email_id",
            id="reply",
        ),
        pytest.param("read_email", {"email_id": "em_1", "mailbox_id": ".."}, "mailbox_id", id="mb"),
        pytest.param(
            "tag_email",
            {"email_id": "em_1", "action": "delete", "key": "\uff0e\uff0e", "mailbox_id": "m"},
            "key",
            id="look-alike-key",
        ),
    ],
)
def test_the_refusal_is_an_output_naming_the_argument(
    harness: Harness, api: respx.MockRouter, tool: str, arguments: dict[str, Any], field: str
) -> None:
    api.route().respond(200, json={"status": "deleted"})
    options = {"profile": "admin", "allow_self_approval": True, "mailbox_id": None}
    result = harness.run(call(tool, arguments), **options)
    assert result.error_type == "invalid_arguments"
    error = json.loads(result.output)["error"]
    assert error["message"].startswith(field)
    assert error["details"] == [{"path": f"$.{field}"}]
    assert not api.calls


@pytest.mark.parametrize("mailbox_id", ["", ".", "..", "a/b", "mbx 1", "\uff0e\uff0e"])
def test_a_bad_default_mailbox_fails_at_construction(mailbox_id: str) -> None:
    with (
        MultiMailClient(api_key=KEY, base_url=BASE) as client,
        pytest.raises(ValueError, match="default mailbox_id"),
    ):
        Dispatcher(client, mailbox_id=mailbox_id)
    client_async = AsyncMultiMailClient(api_key=KEY, base_url=BASE)
    with pytest.raises(ValueError, match="default mailbox_id"):
        AsyncDispatcher(client_async, mailbox_id=mailbox_id)


def test_a_plausible_default_mailbox_still_works(harness: Harness, api: respx.MockRouter) -> None:
    route = api.get("/v1/mailboxes/3f2b9c1e-6d4a/emails").respond(200, json={"emails": []})
    result = harness.run(call("check_inbox", {}), mailbox_id="3f2b9c1e-6d4a")
    assert result.ok
    assert route.called


def test_the_transport_never_sees_a_collapsed_path() -> None:
    # Why the check must come before the transport: httpx removes dot segments itself.
    # tag_email {email_id: "..", key: ".."} would have deleted the mailbox itself.
    url = httpx.URL(BASE + "/v1/mailboxes/mbx_1/emails/../tags/..")
    assert url.path == "/v1/mailboxes/mbx_1"
