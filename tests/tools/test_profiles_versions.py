"""Profiles per schema version: v1 exactly as released, v2's additions, and what never
goes to a model that reads outside mail."""

from __future__ import annotations

import pytest

from mm_assistants.tools import load_registry
from mm_assistants.tools.profiles import (
    APPROVE_TOOLS,
    COMPOSE_TOOLS,
    PROFILE_NAMES,
    PROFILES,
    PROFILES_BY_VERSION,
    resolve_tools,
)
from tests.tools.test_registry_v2 import NEW_TOOLS

V1_AGENT = (
    "list_mailboxes",
    "check_inbox",
    "read_email",
    "get_thread",
    "send_email",
    "reply_email",
    "schedule_email",
    "edit_scheduled_email",
    "cancel_message",
    "tag_email",
    "add_contact",
    "search_contacts",
    "wait_for_email",
    "download_attachment",
)
V1_REVIEWER = ("list_pending", "decide_email", "read_email", "get_thread", "check_inbox")
#: Tools that must never reach an assistant reading outside mail.
NEVER_FOR_READERS = (
    "not_spam",
    "upgrade_plan",
    "get_billing_portal",
    "cancel_subscription",
    "create_account",
    "request_challenge",
)
V1_NAMES = tuple(load_registry("v1"))
V2_NAMES = V1_NAMES + NEW_TOOLS


def test_v1_profiles_are_exactly_as_released() -> None:
    assert dict(PROFILES) == {"agent": V1_AGENT, "reviewer": V1_REVIEWER}
    assert PROFILES_BY_VERSION["v1"] is PROFILES
    for name, expected in (("agent", V1_AGENT), ("reviewer", V1_REVIEWER)):
        assert resolve_tools(V1_NAMES, profile=name, version="v1") == expected
        assert load_registry("v1").resolve(profile=name) == expected


def test_v2_agent_adds_report_spam_only() -> None:
    assert resolve_tools(V2_NAMES, profile="agent", version="v2") == (*V1_AGENT, "report_spam")


def test_v2_reviewer_adds_list_spam_only() -> None:
    assert resolve_tools(V2_NAMES, profile="reviewer", version="v2") == (
        *V1_REVIEWER,
        "list_spam",
    )


def test_v2_signup_is_the_account_creation_flow() -> None:
    assert resolve_tools(V2_NAMES, profile="signup", version="v2") == (
        "request_challenge",
        "create_account",
        "activate_account",
        "resend_confirmation",
    )


def test_v2_admin_is_every_tool() -> None:
    chosen = resolve_tools(V2_NAMES, profile="admin", version="v2", allow_self_approval=True)
    assert chosen == V2_NAMES


@pytest.mark.parametrize("profile", ["agent", "reviewer"])
@pytest.mark.parametrize("tool", NEVER_FOR_READERS)
def test_billing_account_creation_and_not_spam_never_reach_agent_or_reviewer(
    profile: str, tool: str
) -> None:
    assert tool not in resolve_tools(V2_NAMES, profile=profile, version="v2")


def test_not_spam_is_only_in_admin() -> None:
    for version, table in PROFILES_BY_VERSION.items():
        for name, tools in table.items():
            assert "not_spam" not in tools, (version, name)


def test_signup_on_v1_says_it_exists_from_v2() -> None:
    with pytest.raises(ValueError, match=r"'signup' exists from schema version v2 on"):
        resolve_tools(V1_NAMES, profile="signup", version="v1")
    with pytest.raises(ValueError, match="v2"):
        load_registry("v1").resolve(profile="signup")
    assert "signup" in PROFILE_NAMES


def test_a_version_without_profiles_is_refused_for_named_profiles_only() -> None:
    with pytest.raises(ValueError, match=r"no named profiles .* 'v9'"):
        resolve_tools(V1_NAMES, profile="agent", version="v9")
    everything = resolve_tools(V1_NAMES, profile="admin", version="v9", allow_self_approval=True)
    assert everything == V1_NAMES
    assert resolve_tools(V1_NAMES, tools=["read_email"], version="v9") == ("read_email",)


@pytest.mark.parametrize(
    ("version", "profile"),
    [(v, p) for v, table in PROFILES_BY_VERSION.items() for p in table],
)
def test_no_named_profile_both_composes_and_approves(version: str, profile: str) -> None:
    tools = set(PROFILES_BY_VERSION[version][profile])
    assert not (tools & COMPOSE_TOOLS and tools & APPROVE_TOOLS)


def test_the_compose_and_approve_rule_still_holds_on_v2() -> None:
    with pytest.raises(ValueError, match="both compose email and approve it"):
        resolve_tools(V2_NAMES, tools=["report_spam", "send_email", "decide_email"], version="v2")
    assert resolve_tools(
        V2_NAMES, tools=["send_email", "decide_email"], version="v2", allow_self_approval=True
    ) == ("send_email", "decide_email")


def test_profiles_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        PROFILES_BY_VERSION["v2"]["agent"] = ("not_spam",)  # type: ignore[index]
