"""``mm-assistants assistant update``: an existing assistant's MultiMail tools replaced by
those of another schema set, against the sandbox's OpenAI emulator."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from mm_assistants._sunset import call_assistants
from mm_assistants.cli.main import main
from mm_assistants.sandbox import Sandbox
from mm_assistants.tools import load_registry

# the command shows users the library's one sunset warning; which test sees it depends on order
pytestmark = pytest.mark.filterwarnings("ignore::mm_assistants._sunset.AssistantsSunsetWarning")

PROG = "mm-assistants assistant"


def create(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["assistant", "create", "--model", "m", *argv]) == 0
    return capsys.readouterr().out.strip()


def sdk(method: str, *args: Any, **kwargs: Any) -> Any:
    # as the library calls the SDK: without its per-call deprecation warning
    return call_assistants(getattr(openai.OpenAI().beta.assistants, method), *args, **kwargs)


def retrieve(assistant_id: str) -> Any:
    return sdk("retrieve", assistant_id)


def function_names(assistant: Any) -> set[str]:
    return {tool.function.name for tool in assistant.tools if tool.type == "function"}


def profile(version: str, name: str) -> set[str]:
    return set(load_registry(version).resolve(profile=name, allow_self_approval=True))


def errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    # the sunset note shows once per process, in whichever test comes first: not counted
    return [line for line in capsys.readouterr().err.splitlines() if not line.startswith("note:")]


def test_update_upgrades_an_agent_to_v2_and_says_what_changed(
    pointed: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assistant_id = create(capsys)
    code = main(["assistant", "update", assistant_id, "--schema-version", "v2"])
    out = capsys.readouterr().out
    v2_agent = profile("v2", "agent")
    assert code == 0
    assert out == (
        f"updated {assistant_id}: schema set v1 -> v2; added 1 (report_spam), removed 0; "
        f"{len(v2_agent)} MultiMail tools\n"
    )
    upgraded = retrieve(assistant_id)
    assert upgraded.metadata["mm_schema_version"] == "v2"
    assert function_names(upgraded) == v2_agent


def test_update_to_another_profile_names_what_it_added_and_removed(
    pointed: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assistant_id = create(capsys)
    argv = ["assistant", "update", assistant_id, "--schema-version", "v2", "--profile", "reviewer"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    before, after = profile("v1", "agent"), profile("v2", "reviewer")
    added, removed = sorted(after - before), sorted(before - after)
    assert len(added) == 3  # the reviewer's tools, list_spam among them
    assert len(removed) == 11  # more than a line names: 8, then a count
    assert out == (
        f"updated {assistant_id}: schema set v1 -> v2; added 3 ({', '.join(added)}), "
        f"removed 11 ({', '.join(removed[:8])}, and 3 more); {len(after)} MultiMail tools\n"
    )
    assert function_names(retrieve(assistant_id)) == after


def test_an_assistant_made_without_the_library_keeps_its_own_tools(
    pointed: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    own = {"type": "function", "function": {"name": "lookup_order", "parameters": {}}}
    made = sdk("create", model="m", tools=[own])
    code = main(["assistant", "update", made.id, "--schema-version", "v2"])
    out = capsys.readouterr().out
    names = sorted(profile("v2", "agent"))
    assert code == 0
    assert out == (
        f"updated {made.id}: schema set unrecorded -> v2; added {len(names)} "
        f"({', '.join(names[:8])}, and {len(names) - 8} more), removed 0; "
        f"{len(names)} MultiMail tools\n"
    )
    assert function_names(retrieve(made.id)) == {"lookup_order", *names}


def test_an_assistant_recording_an_unknown_set_is_left_alone(
    pointed: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assistant_id = create(capsys)
    sdk("update", assistant_id, metadata={"mm_schema_version": "v9"})
    code = main(["assistant", "update", assistant_id, "--schema-version", "v2"])
    assert code == 2
    assert errors(capsys) == [
        f"{PROG}: assistant {assistant_id} records schema set v9 (metadata mm_schema_version), "
        "which this mm-assistants does not bundle (v1, v2): its tools of that set would be "
        "left beside the new ones; upgrade mm-assistants first"
    ]
    assert function_names(retrieve(assistant_id)) == profile("v1", "agent")


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        pytest.param(
            ["asst_missing", "--schema-version", "v2"],
            1,
            f"{PROG}: OpenAI: No assistant found with id 'asst_missing'.",
            id="unknown-assistant",
        ),
        pytest.param(
            ["{id}", "--schema-version", "v2", "--profile", "admin"],
            2,
            "pass --allow-self-approval",
            id="admin-needs-the-flag",
        ),
        pytest.param(
            ["{id}", "--schema-version", "v1", "--profile", "signup"],
            2,
            f"{PROG}: --profile signup is not in schema set v1: pass the --schema-version that "
            "has it (v1, v2)",
            id="profile-not-in-the-set",
        ),
    ],
)
def test_a_failed_update_is_one_line_and_changes_nothing(
    pointed: Sandbox, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, says: str
) -> None:
    assistant_id = create(capsys)
    argv = [arg.replace("{id}", assistant_id) for arg in argv]
    assert main(["assistant", "update", *argv]) == code
    (line,) = errors(capsys)
    assert says in line
    unchanged = retrieve(assistant_id)
    assert unchanged.metadata["mm_schema_version"] == "v1"
    assert function_names(unchanged) == profile("v1", "agent")


def test_metadata_with_no_room_left_is_refused_before_any_change(
    pointed: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    full = {f"k{n}": "x" for n in range(16)}
    made = sdk("create", model="m", metadata=full)
    assert main(["assistant", "update", made.id, "--schema-version", "v2"]) == 2
    (line,) = errors(capsys)
    assert line.startswith(f"{PROG}: the assistant's metadata would hold 17 keys")
    assert retrieve(made.id).tools == []


def test_update_needs_the_schema_version_named(capsys: pytest.CaptureFixture[str]) -> None:
    # an upgrade is never implied: the set is always asked for by name
    with pytest.raises(SystemExit) as exited:
        main(["assistant", "update", "asst_1"])
    assert exited.value.code == 2
    assert "the following arguments are required: --schema-version" in capsys.readouterr().err


def test_update_without_an_openai_key_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["assistant", "update", "asst_1", "--schema-version", "v2"]) == 2
    assert errors(capsys) == [
        f"{PROG}: no OpenAI API key: set OPENAI_API_KEY (and OPENAI_BASE_URL for a server "
        "other than OpenAI's)"
    ]


def test_update_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["assistant", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "update give an existing assistant the MultiMail tools of a schema set" in shown


def test_the_readme_line_is_what_the_command_prints(
    pointed: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.readme import code_blocks

    (shown,) = [
        block.text
        for block in code_blocks()
        if block.language == "text" and block.text.startswith("updated asst_")
    ]
    assistant_id = create(capsys)
    assert main(["assistant", "update", assistant_id, "--schema-version", "v2"]) == 0
    printed = capsys.readouterr().out
    assert printed.replace(assistant_id, "asst_...") == shown
