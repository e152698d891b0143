"""The public face loads lazily (issue 13, item 1): ``import mm_assistants`` (which every
``import mm_assistants.<part>`` runs first) imports no part, and each public name is found
where the table says, the same object as in its own package."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys

import pytest

import mm_assistants


def fresh_python(code: str) -> str:
    """What ``code`` prints in a new interpreter (warnings are errors), which must succeed."""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_package_loads_no_part() -> None:
    code = (
        "import json, sys, mm_assistants;"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mm_assistants.'))))"
    )
    loaded = json.loads(fresh_python(code))
    assert loaded == ["mm_assistants._sunset", "mm_assistants._version"]


def test_the_table_the_typing_imports_and_all_agree() -> None:
    tree = ast.parse(inspect.getsource(mm_assistants))
    (guard,) = [node for node in tree.body if isinstance(node, ast.If)]
    typed = {
        alias.name: node.module
        for node in guard.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    homes = mm_assistants._HOMES
    assert typed == homes
    assert set(mm_assistants.__all__) == {*homes, "AssistantsSunsetWarning", "__version__"}


@pytest.mark.parametrize("name", sorted(mm_assistants._HOMES))
def test_each_name_is_its_packages_own(name: str) -> None:
    home = importlib.import_module(mm_assistants._HOMES[name])
    assert getattr(mm_assistants, name) is getattr(home, name)
    assert name in dir(mm_assistants)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        mm_assistants.Nothing  # noqa: B018 -- the attribute access is the test


#: The public face, pinned: adding or removing a name is an API change made on purpose here.
PINNED_ALL = [
    "ANY_MAILBOX", "ApprovalHub", "ApprovalOutcome", "ApprovalPolicy", "AssistantsRunDriver",
    "AssistantsSunsetWarning", "AsyncAssistantsRunDriver", "AsyncDispatcher",
    "AsyncMultiMailClient", "AsyncResponsesDriver", "AuditRecord", "AwaitingApproval",
    "CallContext", "Dispatcher", "MemoryPendingStore", "MultiMailClient", "MultiMailError",
    "PendingRecord", "PollPolicy", "RequestSpec", "ResponsesDriver", "RetryPolicy", "RunOutcome",
    "SQLitePendingStore", "StreamEvent", "TextDelta", "ToolCall", "ToolCallArgumentsDone",
    "ToolCallError", "ToolCallStarted", "ToolOutputReady", "ToolRegistry", "ToolResult",
    "ToolSpec", "TurnCompleted", "TurnRetried", "TurnStarted", "__version__",
    "calls_from_chat_message", "calls_from_response", "calls_from_run", "chat_tool_loop",
    "create_assistant", "load_registry", "resolve_pending", "update_assistant_tools",
]  # fmt: skip
#: The names the house plan calls binding ("Public API").
PLAN_NAMES = {
    "load_registry", "ToolRegistry", "ToolSpec", "MultiMailClient", "AsyncMultiMailClient",
    "MultiMailError", "ToolCall", "ToolResult", "Dispatcher", "AsyncDispatcher",
    "ApprovalPolicy", "AssistantsRunDriver", "AsyncAssistantsRunDriver", "RunOutcome",
    "ResponsesDriver", "AsyncResponsesDriver", "create_assistant",
}  # fmt: skip


def test_all_is_pinned_and_sorted() -> None:
    assert mm_assistants.__all__ == PINNED_ALL
    assert sorted(PINNED_ALL) == PINNED_ALL


def test_the_plans_public_names_are_all_there_and_importable() -> None:
    assert set(PLAN_NAMES) <= set(mm_assistants.__all__)
    for name in mm_assistants.__all__:
        assert getattr(mm_assistants, name) is not None


#: The streamed Responses driver's events (issue 18): the README's streaming example imports
#: them from the top level, and the run loop they come from is the driver's own.
STREAM_EVENTS = {
    "AwaitingApproval", "StreamEvent", "TextDelta", "ToolCallArgumentsDone", "ToolCallStarted",
    "ToolOutputReady", "TurnCompleted", "TurnRetried", "TurnStarted",
}  # fmt: skip


def test_every_stream_event_is_public_and_a_stream_event() -> None:
    from mm_assistants.drivers import stream_events

    assert set(mm_assistants.__all__) >= STREAM_EVENTS
    # every event class the module offers is public; its reader (TurnReader) is not
    offered = {name for name in stream_events.__all__ if name != "TurnReader"}
    assert offered == STREAM_EVENTS
    for name in STREAM_EVENTS:
        assert issubclass(getattr(mm_assistants, name), mm_assistants.StreamEvent)


def test_the_agents_package_stays_optional() -> None:
    # multimail_tools needs openai-agents (the `agents` extra): the top level never names or
    # loads it, so `import mm_assistants` works without that SDK
    assert not {"multimail_tools", "PARKING_UNSUPPORTED"} & set(mm_assistants.__all__)
    code = (
        "import sys, mm_assistants;"
        "[getattr(mm_assistants, name) for name in mm_assistants.__all__];"
        "print(sorted(m for m in sys.modules if m == 'agents' or m.startswith("
        "('agents.', 'mm_assistants.agents'))))"
    )
    assert fresh_python(code).strip() == "[]"
