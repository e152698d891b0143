"""The mailbox scope: ``mailbox_id=`` limits the model to that mailbox unless the caller
widens it (``allowed_mailboxes=`` a set, or `ANY_MAILBOX`), sync and async alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx

from mm_assistants import ANY_MAILBOX
from mm_assistants.dispatch import Dispatcher
from mm_assistants.multimail import MultiMailClient
from tests.dispatch.conftest import BASE, KEY, Harness, call


def error_of(result: Any) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(result.output)["error"]
    return error


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        pytest.param("read_email", {"email_id": "em_1", "mailbox_id": "mbx_ceo"}, id="read"),
        pytest.param("check_inbox", {"mailbox_id": "mbx_ceo"}, id="inbox"),
        pytest.param(
            "send_email",
            {"to": ["a@b.test"], "subject": "s", "markdown": "m", "mailbox_id": "mbx_ceo"},
            id="send",
        ),
        pytest.param("wait_for_email", {"mailbox_id": "mbx_ceo"}, id="wait"),
    ],
)
def test_the_default_mailbox_is_the_scope(
    harness: Harness, api: respx.MockRouter, name: str, arguments: dict[str, Any]
) -> None:
    catch_all = api.route().respond(200, json={})
    result = harness.run(call(name, arguments), mailbox_id="mbx_support")
    assert result.error_type == "mailbox_not_allowed"
    assert "mbx_ceo" in error_of(result)["message"]
    assert error_of(result)["details"] == [{"allowed_mailboxes": ["mbx_support"]}]
    assert not catch_all.called


def test_the_default_mailbox_itself_is_used(harness: Harness, api: respx.MockRouter) -> None:
    route = api.get("/v1/mailboxes/mbx_support/emails/em_1").respond(200, json={"id": "em_1"})
    result = harness.run(
        call("read_email", {"email_id": "em_1", "mailbox_id": "mbx_support"}),
        mailbox_id="mbx_support",
    )
    assert result.ok
    assert route.called


@pytest.mark.parametrize(
    "allowed",
    [
        pytest.param({"mbx_support", "mbx_ceo"}, id="a-set"),
        pytest.param(ANY_MAILBOX, id="any-mailbox"),
    ],
)
def test_an_explicit_widening_reaches_other_mailboxes(
    harness: Harness, api: respx.MockRouter, allowed: Any
) -> None:
    route = api.get("/v1/mailboxes/mbx_ceo/emails/em_1").respond(200, json={"id": "em_1"})
    default = api.get("/v1/mailboxes/mbx_support/emails/em_2").respond(200, json={"id": "em_2"})
    results = harness.run(
        [
            call("read_email", {"email_id": "em_1", "mailbox_id": "mbx_ceo"}, call_id="c1"),
            call("read_email", {"email_id": "em_2"}, call_id="c2"),
        ],
        mailbox_id="mbx_support",
        allowed_mailboxes=allowed,
    )
    assert [r.ok for r in results] == [True, True]
    assert route.called
    assert default.called  # the default still fills in an unnamed mailbox


def test_a_set_widening_still_refuses_the_rest(harness: Harness, api: respx.MockRouter) -> None:
    catch_all = api.route().respond(200, json={})
    result = harness.run(
        call("read_email", {"email_id": "em_1", "mailbox_id": "mbx_hr"}),
        mailbox_id="mbx_support",
        allowed_mailboxes={"mbx_support", "mbx_ceo"},
    )
    assert result.error_type == "mailbox_not_allowed"
    assert not catch_all.called


def test_without_a_mailbox_or_a_scope_every_mailbox_is_allowed(
    harness: Harness, api: respx.MockRouter
) -> None:
    route = api.get("/v1/mailboxes/mbx_ceo/emails/em_1").respond(200, json={"id": "em_1"})
    result = harness.run(
        call("read_email", {"email_id": "em_1", "mailbox_id": "mbx_ceo"}), mailbox_id=None
    )
    assert result.ok
    assert route.called


def test_list_mailboxes_shows_only_the_scope(harness: Harness, api: respx.MockRouter) -> None:
    mailboxes = [{"id": "mbx_support"}, {"id": "mbx_ceo"}]
    api.get("/v1/mailboxes").respond(200, json={"mailboxes": mailboxes})
    result = harness.run(call("list_mailboxes"), mailbox_id="mbx_support")
    assert [m["id"] for m in json.loads(result.output)["mailboxes"]] == ["mbx_support"]
    wide = harness.run(
        call("list_mailboxes"), mailbox_id="mbx_support", allowed_mailboxes=ANY_MAILBOX
    )
    assert [m["id"] for m in json.loads(wide.output)["mailboxes"]] == ["mbx_support", "mbx_ceo"]


def test_list_pending_shows_only_the_scope(harness: Harness, api: respx.MockRouter) -> None:
    emails = [{"id": "a", "mailbox_id": "mbx_support"}, {"id": "b", "mailbox_id": "mbx_ceo"}]
    api.get("/v1/oversight/pending").respond(200, json={"emails": emails})
    result = harness.run(call("list_pending"), profile="reviewer", mailbox_id="mbx_support")
    assert [e["id"] for e in json.loads(result.output)["emails"]] == ["a"]


def test_a_scoped_assistant_may_not_create_mailboxes(
    harness: Harness, api: respx.MockRouter
) -> None:
    catch_all = api.route().respond(201, json={"id": "mbx_new"})
    arguments = {"address_local_part": "new", "display_name": "New"}
    result = harness.run(
        call("create_mailbox", arguments),
        profile="admin",
        allow_self_approval=True,
        mailbox_id="mbx_support",
    )
    assert result.error_type == "mailbox_not_allowed"
    assert not catch_all.called
    wide = harness.run(
        call("create_mailbox", arguments),
        profile="admin",
        allow_self_approval=True,
        mailbox_id="mbx_support",
        allowed_mailboxes=ANY_MAILBOX,
    )
    assert wide.ok


@pytest.mark.parametrize(
    ("options", "scope"),
    [
        pytest.param({}, None, id="unscoped"),
        pytest.param({"mailbox_id": "m"}, frozenset({"m"}), id="default-is-scope"),
        pytest.param({"mailbox_id": "m", "allowed_mailboxes": ANY_MAILBOX}, None, id="any"),
        pytest.param({"allowed_mailboxes": ANY_MAILBOX}, None, id="any-no-default"),
        pytest.param(
            {"mailbox_id": "m", "allowed_mailboxes": ["m", "n"]}, frozenset({"m", "n"}), id="set"
        ),
    ],
)
def test_the_scope_attribute(options: dict[str, Any], scope: frozenset[str] | None) -> None:
    with MultiMailClient(api_key=KEY, base_url=BASE) as client:
        assert Dispatcher(client, **options).allowed_mailboxes == scope


def test_a_plain_string_scope_is_still_a_type_error() -> None:
    with MultiMailClient(api_key=KEY, base_url=BASE) as client:
        with pytest.raises(TypeError, match="ANY_MAILBOX"):
            Dispatcher(client, allowed_mailboxes="any")
        with pytest.raises(TypeError, match="not one string"):
            Dispatcher(client, allowed_mailboxes="mbx_1")


def test_the_model_sees_a_mailbox_argument_only_when_it_has_a_choice() -> None:
    def has_mailbox_argument(dispatcher: Dispatcher) -> bool:
        tools = {t["function"]["name"]: t for t in dispatcher.tool_definitions()}
        return "mailbox_id" in tools["read_email"]["function"]["parameters"]["properties"]

    with MultiMailClient(api_key=KEY, base_url=BASE) as client:
        assert not has_mailbox_argument(Dispatcher(client, mailbox_id="m"))
        assert has_mailbox_argument(
            Dispatcher(client, mailbox_id="m", allowed_mailboxes={"m", "n"})
        )
        assert has_mailbox_argument(
            Dispatcher(client, mailbox_id="m", allowed_mailboxes=ANY_MAILBOX)
        )
        assert has_mailbox_argument(Dispatcher(client))


@pytest.mark.parametrize(
    "email_id",
    [
        pytest.param("em_ceo", id="held-in-another-mailbox"),
        pytest.param("em_gone", id="not-held-at-all"),
    ],
)
def test_a_scoped_reviewer_may_not_decide_outside_its_mailboxes(
    harness: Harness, api: respx.MockRouter, email_id: str
) -> None:
    held = [
        {"id": "em_ceo", "mailbox_id": "mbx_ceo"},
        {"id": "em_sup", "mailbox_id": "mbx_support"},
    ]
    api.get("/v1/oversight/pending").respond(200, json={"emails": held})
    decide = api.post("/v1/oversight/decide").respond(200, json={"status": "approved"})
    result = harness.run(
        call("decide_email", {"email_id": email_id, "action": "approve"}),
        profile="reviewer",
        mailbox_id="mbx_support",
    )
    assert result.error_type == "mailbox_not_allowed"
    assert not decide.called


def test_a_scoped_reviewer_decides_in_its_mailbox(harness: Harness, api: respx.MockRouter) -> None:
    held = [{"id": "em_sup", "mailbox_id": "mbx_support"}]
    api.get("/v1/oversight/pending").respond(200, json={"emails": held})
    decide = api.post("/v1/oversight/decide").respond(200, json={"status": "approved"})
    result = harness.run(
        call("decide_email", {"email_id": "em_sup", "action": "approve"}),
        profile="reviewer",
        mailbox_id="mbx_support",
    )
    assert result.ok
    assert decide.called


def test_an_unscoped_reviewer_decides_without_a_lookup(
    harness: Harness, api: respx.MockRouter
) -> None:
    pending = api.get("/v1/oversight/pending").respond(200, json={"emails": []})
    decide = api.post("/v1/oversight/decide").respond(200, json={"status": "approved"})
    result = harness.run(
        call("decide_email", {"email_id": "em_ceo", "action": "approve"}),
        profile="reviewer",
        mailbox_id="mbx_support",
        allowed_mailboxes=ANY_MAILBOX,
    )
    assert result.ok
    assert decide.called
    assert not pending.called
