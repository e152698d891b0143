"""``MULTIMAIL_MAILBOX_ID``: the default mailbox (and so the scope) of a dispatcher that is
given no ``mailbox_id``, sync and async alike; an explicit ``mailbox_id=None`` ignores it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import respx

from mm_assistants import ANY_MAILBOX
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher, ToolResult
from mm_assistants.dispatch.scope import MAILBOX_ID_ENV, NOT_GIVEN, default_mailbox
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient
from tests.dispatch.conftest import BASE, KEY, call

MODES = [pytest.param("sync", id="sync"), pytest.param("async", id="async")]


def construct(mode: str, **options: Any) -> Any:
    """A dispatcher of ``mode`` (its client is closed at once: only the configuration is
    looked at)."""
    if mode == "sync":
        with MultiMailClient(api_key=KEY, base_url=BASE) as client:
            return Dispatcher(client, **options)

    async def build() -> AsyncDispatcher:
        async with AsyncMultiMailClient(api_key=KEY, base_url=BASE) as client:
            return AsyncDispatcher(client, **options)

    return asyncio.run(build())


def dispatch(mode: str, name: str, arguments: dict[str, Any], **options: Any) -> ToolResult:
    """One call through a dispatcher of ``mode`` built with ``options``."""
    if mode == "sync":
        with MultiMailClient(api_key=KEY, base_url=BASE) as client:
            return Dispatcher(client, **options).dispatch(call(name, arguments))

    async def scenario() -> ToolResult:
        async with AsyncMultiMailClient(api_key=KEY, base_url=BASE) as client:
            return await AsyncDispatcher(client, **options).dispatch(call(name, arguments))

    return asyncio.run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_the_environment_gives_the_default_mailbox_and_the_scope(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAILBOX_ID_ENV, "mbx_env")
    dispatcher = construct(mode)
    assert dispatcher.mailbox_id == "mbx_env"
    assert dispatcher.allowed_mailboxes == frozenset({"mbx_env"})
    # the exported tools are pinned to it, as with mailbox_id="mbx_env"
    tools = dispatcher.tool_definitions("responses")
    assert all("mailbox_id" not in tool["parameters"]["properties"] for tool in tools)


@pytest.mark.parametrize("mode", MODES)
def test_a_call_goes_to_the_environment_mailbox_and_no_other(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAILBOX_ID_ENV, "mbx_env")
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        inbox = api.get("/v1/mailboxes/mbx_env/emails").respond(200, json={"emails": []})
        other = api.route().respond(200, json={})
        assert dispatch(mode, "check_inbox", {}).ok
        refused = dispatch(mode, "check_inbox", {"mailbox_id": "mbx_ceo"})
    assert inbox.called
    assert refused.error_type == "mailbox_not_allowed"
    assert not other.called


@pytest.mark.parametrize("mode", MODES)
def test_an_explicit_none_ignores_the_environment(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAILBOX_ID_ENV, "mbx_env")
    dispatcher = construct(mode, mailbox_id=None)
    assert dispatcher.mailbox_id is None
    assert dispatcher.allowed_mailboxes is None


@pytest.mark.parametrize("mode", MODES)
def test_an_explicit_mailbox_wins_over_the_environment(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAILBOX_ID_ENV, "mbx_env")
    dispatcher = construct(mode, mailbox_id="mbx_given")
    assert dispatcher.allowed_mailboxes == frozenset({"mbx_given"})


@pytest.mark.parametrize("mode", MODES)
def test_any_mailbox_keeps_the_environment_mailbox_as_the_default_only(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAILBOX_ID_ENV, "mbx_env")
    dispatcher = construct(mode, allowed_mailboxes=ANY_MAILBOX)
    assert (dispatcher.mailbox_id, dispatcher.allowed_mailboxes) == ("mbx_env", None)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("value", [pytest.param("", id="empty"), pytest.param("  ", id="blank")])
def test_an_unset_or_empty_variable_means_no_mailbox(
    mode: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAILBOX_ID_ENV, value)
    assert construct(mode).allowed_mailboxes is None
    monkeypatch.delenv(MAILBOX_ID_ENV)
    assert construct(mode).mailbox_id is None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("..", id="dot-dot"),
        pytest.param("mbx/1", id="slash"),
        pytest.param("mbx 1", id="space"),
        pytest.param("x" * 300, id="too-long"),
    ],
)
def test_a_bad_id_in_the_environment_fails_at_construction_naming_the_variable(
    mode: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAILBOX_ID_ENV, value)
    with pytest.raises(ValueError, match=MAILBOX_ID_ENV):
        construct(mode)


@pytest.mark.parametrize("mode", MODES)
def test_an_environment_mailbox_outside_allowed_mailboxes_names_the_variable(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAILBOX_ID_ENV, "mbx_env")
    with pytest.raises(ValueError, match=f"{MAILBOX_ID_ENV}.*allowed_mailboxes"):
        construct(mode, allowed_mailboxes={"mbx_a", "mbx_b"})


def test_default_mailbox_is_pure_over_the_mapping_it_is_given() -> None:
    assert default_mailbox(NOT_GIVEN, {MAILBOX_ID_ENV: " mbx_1\n"}) == "mbx_1"
    assert default_mailbox(NOT_GIVEN, {}) is None
    assert default_mailbox(None, {MAILBOX_ID_ENV: "mbx_1"}) is None
    assert default_mailbox("mbx_2", {MAILBOX_ID_ENV: "mbx_1"}) == "mbx_2"
    assert repr(NOT_GIVEN) == "NOT_GIVEN"


@pytest.mark.parametrize("mode", MODES)
def test_the_repr_shows_the_mailbox_from_the_environment(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAILBOX_ID_ENV, "mbx_env")
    assert "mailbox_id='mbx_env', allowed_mailboxes=['mbx_env']" in repr(construct(mode))
