"""The words of an unknown outcome depend on the tool: a send says the email may be on its
way; any other write says its change may or may not have been applied and what to look at
before trying again (sync and async clients alike)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from mm_assistants.multimail import TransportError
from mm_assistants.multimail.outcome_advice import is_send
from mm_assistants.tools import load_registry
from tests.multimail.conftest import Runner

V2 = load_registry("v2")
EMAIL_WORDS = "the email may or may not have been sent"
KEYED_EMAIL_WORDS = "the email may already be stored and on its way"


async def unknown_outcome(
    runner: Runner, api: respx.MockRouter, tool: str, arguments: dict[str, Any]
) -> str:
    """The message of the `TransportError` a timed-out ``tool`` call raises."""
    request = V2.bind(tool, arguments, mailbox_id="mbx_1")
    api.route(method=request.method, path=request.path).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransportError) as info:
        await runner.call("send", request)
    assert info.value.outcome_unknown
    return str(info.value)


SEND = {"to": ["a@b.c"], "subject": "s", "markdown": "m"}


@pytest.mark.parametrize(
    ("tool", "arguments", "words"),
    [
        pytest.param("send_email", {**SEND, "idempotency_key": "k1"}, KEYED_EMAIL_WORDS, id="send"),
        pytest.param("reply_email", {"email_id": "em_1", "markdown": "m"}, EMAIL_WORDS, id="reply"),
        pytest.param(
            "schedule_email",
            {**SEND, "send_at": "2030-01-01T00:00:00Z"},
            EMAIL_WORDS,
            id="schedule",
        ),
    ],
)
async def test_a_send_keeps_the_email_wording(
    runner: Runner, api: respx.MockRouter, tool: str, arguments: dict[str, Any], words: str
) -> None:
    message = await unknown_outcome(runner, api, tool, arguments)
    assert words in message
    assert "never re-send blindly" in message
    assert "change may or may not" not in message


@pytest.mark.parametrize(
    ("tool", "arguments", "what", "check"),
    [
        pytest.param(
            "report_spam",
            {"email_id": "em_1"},
            "the email may or may not have been reported as spam",
            "look at list_spam before reporting it again",
            id="report_spam",
        ),
        pytest.param(
            "not_spam",
            {"email_id": "em_1"},
            "may or may not have been restored from spam",
            "look at list_spam (or check_inbox) before restoring it again",
            id="not_spam",
        ),
        pytest.param(
            "decide_email",
            {"email_id": "em_1", "action": "reject", "reason": None},
            "the decision may or may not have been recorded",
            "look at list_pending (is the email still held?) before deciding again",
            id="decide_email",
        ),
        pytest.param(
            "add_contact",
            {"email": "a@b.c", "name": None, "tags": None},
            "the contact may or may not have been added",
            "search_contacts before adding it again",
            id="add_contact",
        ),
        pytest.param(
            "request_challenge",
            {"oversight_email": "o@b.c"},
            "the change may or may not have been applied",
            "check its effect",
            id="other-write",
        ),
    ],
)
async def test_another_write_says_its_change_and_what_to_check(
    runner: Runner,
    api: respx.MockRouter,
    tool: str,
    arguments: dict[str, Any],
    what: str,
    check: str,
) -> None:
    message = await unknown_outcome(runner, api, tool, arguments)
    assert what in message
    assert check in message
    assert "not retried" in message
    assert "email may or may not have been sent" not in message
    assert "never repeat it blindly" in message


async def test_a_retried_write_that_is_not_a_send_says_every_attempt_failed(
    runner: Runner, api: respx.MockRouter
) -> None:
    arguments = {"display_name": "Ops"}
    message = await unknown_outcome(runner, api, "update_mailbox", arguments)
    assert "the change may or may not have been applied" in message
    assert "Every attempt failed" in message
    assert "on its way" not in message


@pytest.mark.parametrize(
    ("tool", "path", "expected"),
    [
        pytest.param(None, "/v1/mailboxes/m/send", True, id="send-path"),
        pytest.param(None, "/v1/mailboxes/m/reply/em_1", True, id="reply-path"),
        pytest.param(None, "/v1/emails/em_1/report-spam", False, id="other-path"),
        pytest.param("report_spam", "/v1/mailboxes/m/send", False, id="tool-wins"),
    ],
)
def test_a_request_without_a_tool_is_a_send_by_its_path(
    tool: str | None, path: str, expected: bool
) -> None:
    assert is_send(tool, path) is expected
