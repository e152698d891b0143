"""The v2 dispatcher against the MultiMail sandbox (in-process, no network): the signup
flow a "signup" assistant runs, and spam review within a mailbox scope."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mm_assistants.dispatch import Dispatcher, ToolResult
from mm_assistants.dispatch.handoff import WITHHELD, SecretHandoff
from mm_assistants.multimail import MultiMailClient
from mm_assistants.tools import load_registry
from tests.dispatch.conftest import call
from tests.sandbox.multimail_api.conftest import (  # fixtures, used by name
    Sandbox,
    portal,  # noqa: F401 -- a fixture the sandbox fixtures need
    start_sandbox,  # noqa: F401 -- a fixture the sandbox fixture needs
)

V2 = load_registry("v2")


@pytest.fixture
def sandbox(start_sandbox: Any) -> Sandbox:  # noqa: F811 -- the imported fixture, used by name
    made: Sandbox = start_sandbox()
    return made


@pytest.fixture
def connect(sandbox: Sandbox) -> Iterator[Any]:
    """Make a v2 dispatcher on a sandbox key (a scope name of the seed, or a raw key)."""
    clients: list[MultiMailClient] = []

    def make(key: str, **options: Any) -> Dispatcher:
        raw = sandbox.seed.keys.get(key, key)
        client = MultiMailClient(
            api_key=raw, base_url="http://testserver", http_client=sandbox.client()
        )
        clients.append(client)
        return Dispatcher(client, registry=V2, **options)

    yield make
    for client in clients:
        client.close()


def output(result: ToolResult) -> dict[str, Any]:
    assert result.ok, result.output
    decoded: dict[str, Any] = json.loads(result.output)
    return decoded


def test_a_signup_assistant_creates_and_activates_an_account(
    sandbox: Sandbox, connect: Any
) -> None:
    handed: list[SecretHandoff] = []
    signup = connect("read", profile="signup", mailbox_id=None, on_secret=handed.append)
    challenge = output(signup.dispatch(call("request_challenge", {"oversight_email": None})))
    solution = challenge["untrusted"]["pow_solution"]
    account = {
        "operator_name": "Acme Robots",
        "oversight_email": "ops@acme.example",
        "accepted_tos": True,
        "accepted_operator_agreement": True,
        "accepted_anti_spam_policy": True,
        "pow_solution": solution,
        "slug": "acme",
        "physical_address": None,
        "use_case": None,
        "oversight_mode": None,
    }
    created = output(signup.dispatch(call("create_account", account, call_id="call_2")))
    assert created["status"] == "confirmation_sent"
    # The same solution twice: the sandbox refuses a used challenge, as MultiMail does.
    replay = signup.dispatch(call("create_account", account | {"slug": "acme2"}, call_id="c3"))
    assert not replay.ok
    code = sandbox.control.codes("confirm_account")[-1]["id"]
    activated = signup.dispatch(call("activate_account", {"code": code}, call_id="call_4"))
    shown = output(activated)
    assert shown["api_key"] == dict(WITHHELD)
    assert [(h.tool, h.field) for h in handed] == [("activate_account", "api_key")]
    assert handed[0].value not in activated.output
    with sandbox.client(handed[0].value) as owner:  # the operator's key works
        assert owner.get("/v1/account").status_code == 200


def _inject(sandbox: Sandbox, mailbox_id: str, verdict: str) -> str:
    email = sandbox.control.inject_inbound(
        mailbox_id, sender="spam@example.net", subject="Win", markdown="x", spam_verdict=verdict
    )
    email_id: str = email["id"]
    return email_id


def test_spam_review_stays_in_the_scope(sandbox: Sandbox, connect: Any) -> None:
    mine, other = sandbox.seed.mailbox_id, sandbox.seed.second_mailbox_id
    clean = sandbox.control.inject_inbound(
        mine, sender="friend@example.net", subject="hi", markdown="x"
    )["id"]
    flagged_elsewhere = _inject(sandbox, other, "flagged")
    _inject(sandbox, mine, "flagged")
    agent = connect("send", profile="agent", mailbox_id=mine)
    reported = agent.dispatch(call("report_spam", {"email_id": clean}))
    assert reported.ok, reported.output
    refused = agent.dispatch(call("report_spam", {"email_id": flagged_elsewhere}, call_id="c2"))
    assert refused.error_type == "mailbox_not_allowed"
    reviewer = connect("read", profile="reviewer", mailbox_id=mine)
    listed = output(
        reviewer.dispatch(call("list_spam", {"status": None, "limit": None, "cursor": None}))
    )
    ids = [email["id"] for email in listed["emails"]]
    assert clean in ids
    assert flagged_elsewhere not in ids
    assert "untrusted" in listed["emails"][0]


def test_not_spam_is_for_no_named_profile_but_admin(connect: Any) -> None:
    agent = connect("send", profile="agent")
    refused = agent.dispatch(call("not_spam", {"email_id": "em_1"}))
    assert refused.error_type == "tool_not_allowed"
