"""The mailbox scope's pure rules, pinned (issue 14): the exact refusals and their details,
a decision on an email held elsewhere answered like one that does not exist, listings cut
to the scope, and the configuration errors in the caller's words."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.dispatch.policy import Refusal
from mm_assistants.dispatch.scope import (
    ANY_MAILBOX,
    NOT_GIVEN,
    default_mailbox,
    describe,
    held_refusal,
    needs_lookup,
    pinned_mailbox,
    resolve_scope,
    scope_refusal,
    within_scope,
)

SCOPE = frozenset({"mbx_2", "mbx_1"})
DETAILS = [{"allowed_mailboxes": ["mbx_1", "mbx_2"]}]


@pytest.mark.parametrize(
    ("tool", "mailbox", "refusal"),
    [
        pytest.param(
            "create_mailbox",
            None,
            Refusal(
                "mailbox_not_allowed",
                "a new mailbox would be outside this assistant's mailboxes",
                DETAILS,
            ),
            id="create-mailbox",
        ),
        pytest.param(
            "create_webhook",
            None,
            Refusal(
                "mailbox_not_allowed",
                "name the mailbox: this assistant may only use specific mailboxes",
                DETAILS,
            ),
            id="webhook-for-every-mailbox",
        ),
        pytest.param("create_webhook", "mbx_1", None, id="webhook-in-scope"),
        pytest.param(
            "check_inbox",
            "mbx_9",
            Refusal("mailbox_not_allowed", "this assistant may not use mailbox 'mbx_9'", DETAILS),
            id="outside",
        ),
        pytest.param("check_inbox", "mbx_2", None, id="inside"),
        pytest.param("list_contacts", None, None, id="account-tool"),
    ],
)
def test_scope_refusals_say_what_the_model_may_use(
    tool: str, mailbox: str | None, refusal: Refusal | None
) -> None:
    assert scope_refusal(tool, mailbox, SCOPE) == refusal


def test_without_a_scope_nothing_is_refused() -> None:
    assert scope_refusal("create_mailbox", None, None) is None
    assert scope_refusal("create_webhook", None, None) is None
    assert held_refusal("em_1", {}, None) is None


HELD = Refusal(
    "mailbox_not_allowed",
    "no email with this id is held for approval in this assistant's mailboxes",
    DETAILS,
)


@pytest.mark.parametrize(
    ("pending", "refusal"),
    [
        pytest.param({"emails": [{"id": "em_1", "mailbox_id": "mbx_2"}]}, None, id="in-scope"),
        pytest.param(
            {
                "emails": [
                    {"id": "em_0", "mailbox_id": "mbx_1"},
                    {"id": "em_1", "mailbox_id": "mbx_1"},
                ]
            },
            None,
            id="second-of-two",
        ),
        pytest.param({"emails": [{"id": "em_1", "mailbox_id": "mbx_9"}]}, HELD, id="elsewhere"),
        pytest.param(
            {
                "emails": [
                    {"id": "em_1", "mailbox_id": "mbx_9"},
                    {"id": "em_1", "mailbox_id": "mbx_1"},
                ]
            },
            HELD,
            id="first-match-decides",
        ),
        pytest.param({"emails": [{"id": "em_2", "mailbox_id": "mbx_1"}]}, HELD, id="absent"),
        pytest.param(
            {"emails": ["em_1", {"id": "em_1", "mailbox_id": "mbx_1"}]}, None, id="odd-item"
        ),
        pytest.param({"emails": "em_1"}, HELD, id="not-a-list"),
        pytest.param(["em_1"], HELD, id="not-an-object"),
        pytest.param({}, HELD, id="empty"),
    ],
)
def test_a_decision_is_allowed_only_on_an_email_held_in_scope(
    pending: Any, refusal: Refusal | None
) -> None:
    assert held_refusal("em_1", pending, SCOPE) == refusal


@pytest.mark.parametrize(
    ("tool", "data", "kept"),
    [
        pytest.param(
            "list_mailboxes",
            {"mailboxes": [{"id": "mbx_1"}, {"id": "mbx_9"}, "odd"], "total": 3},
            {"mailboxes": [{"id": "mbx_1"}], "total": 3},
            id="mailboxes",
        ),
        pytest.param(
            "list_pending",
            {"emails": [{"id": "e", "mailbox_id": "mbx_2"}, {"id": "f", "mailbox_id": "x"}]},
            {"emails": [{"id": "e", "mailbox_id": "mbx_2"}]},
            id="pending",
        ),
        pytest.param("list_pending", {"emails": "odd"}, {"emails": "odd"}, id="not-a-list"),
        pytest.param(
            "check_inbox", {"emails": [{"id": "e"}]}, {"emails": [{"id": "e"}]}, id="not-a-listing"
        ),
        pytest.param("list_pending", ["x"], ["x"], id="not-an-object"),
    ],
)
def test_listings_are_cut_to_the_scope(tool: str, data: Any, kept: Any) -> None:
    assert within_scope(tool, data, SCOPE) == kept
    assert within_scope(tool, data, None) == data


def test_only_a_scoped_decision_needs_a_lookup() -> None:
    assert needs_lookup("decide_email", SCOPE) is True
    assert needs_lookup("decide_email", None) is False
    assert needs_lookup("read_email", SCOPE) is False


@pytest.mark.parametrize(
    ("mailbox", "scope", "pinned"),
    [
        ("mbx_1", frozenset({"mbx_1"}), "mbx_1"),
        ("mbx_1", SCOPE, None),
        ("mbx_1", None, None),
        (None, frozenset({"mbx_1"}), None),
    ],
)
def test_a_mailbox_is_pinned_only_when_it_is_the_whole_scope(
    mailbox: str | None, scope: frozenset[str] | None, pinned: str | None
) -> None:
    assert pinned_mailbox(mailbox, scope) == pinned


def test_describe_the_scope() -> None:
    assert describe(None) == "ANY_MAILBOX"
    assert describe(SCOPE) == "['mbx_1', 'mbx_2']"
    assert repr(ANY_MAILBOX) == "ANY_MAILBOX"
    assert repr(NOT_GIVEN) == "NOT_GIVEN"


@pytest.mark.parametrize(
    ("given", "environ", "mailbox"),
    [
        pytest.param("mbx_1", {"MULTIMAIL_MAILBOX_ID": "mbx_9"}, "mbx_1", id="given-wins"),
        pytest.param(None, {"MULTIMAIL_MAILBOX_ID": "mbx_9"}, None, id="none-ignores-env"),
        pytest.param(NOT_GIVEN, {"MULTIMAIL_MAILBOX_ID": " mbx_9\n"}, "mbx_9", id="env"),
        pytest.param(NOT_GIVEN, {"MULTIMAIL_MAILBOX_ID": "  "}, None, id="blank-env"),
        pytest.param(NOT_GIVEN, {}, None, id="no-env"),
    ],
)
def test_the_default_mailbox(given: Any, environ: dict[str, str], mailbox: str | None) -> None:
    assert default_mailbox(given, environ) == mailbox


def test_a_bad_mailbox_in_the_environment_names_the_variable() -> None:
    with pytest.raises(ValueError) as refused:
        default_mailbox(NOT_GIVEN, {"MULTIMAIL_MAILBOX_ID": "mbx 1"})
    message = str(refused.value)
    assert message.startswith("the environment variable MULTIMAIL_MAILBOX_ID is not an id")
    assert message.endswith("; set it to the id of a MultiMail mailbox, or unset it")
    with pytest.raises(ValueError, match="the default mailbox_id is not an id"):
        default_mailbox("mbx 1", {})


@pytest.mark.parametrize(
    ("mailbox", "allowed", "scope"),
    [
        ("mbx_1", None, frozenset({"mbx_1"})),
        (None, None, None),
        ("mbx_1", ANY_MAILBOX, None),
        ("mbx_1", ["mbx_1", "mbx_2"], frozenset({"mbx_1", "mbx_2"})),
        (None, ("mbx_2",), frozenset({"mbx_2"})),
    ],
)
def test_resolve_scope(mailbox: str | None, allowed: Any, scope: frozenset[str] | None) -> None:
    assert resolve_scope(mailbox, allowed) == scope


@pytest.mark.parametrize(
    ("allowed", "message"),
    [
        (
            "any",
            "allowed_mailboxes takes a collection of mailbox ids, not one string "
            "(pass ANY_MAILBOX to allow every mailbox)",
        ),
        ("ANY", "allowed_mailboxes takes a collection of mailbox ids, not one string (pass"),
        ("mbx_1", "allowed_mailboxes takes a collection of mailbox ids, not one string"),
    ],
)
def test_one_string_is_not_a_scope(allowed: str, message: str) -> None:
    with pytest.raises(TypeError) as refused:
        resolve_scope("mbx_1", allowed)
    assert str(refused.value).startswith(message)
    if allowed == "mbx_1":
        assert str(refused.value) == message


def test_a_default_outside_its_scope_is_refused_naming_its_origin() -> None:
    with pytest.raises(ValueError) as refused:
        resolve_scope("mbx_9", ["mbx_1"])
    assert str(refused.value) == "the default mailbox 'mbx_9' is not in allowed_mailboxes"
    with pytest.raises(ValueError) as from_env:
        resolve_scope("mbx_9", ["mbx_1"], from_environment=True)
    assert str(from_env.value) == (
        "the default mailbox 'mbx_9' (from MULTIMAIL_MAILBOX_ID) is not in allowed_mailboxes"
    )
