"""``mm-assistants schemas ...`` as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mm_assistants.cli.main import main
from mm_assistants.tools import load_registry
from mm_assistants.tools.manifest import write_manifest
from mm_assistants.tools.schemas import schema_dir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_passes_and_counts_38_tools(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schemas", "check")
    assert code == 0
    *tools, summary = out.splitlines()
    assert summary == "ok: 38 tools in schema set v1 (MultiMail API 2.0.0)"
    assert sorted(line.removeprefix("ok  ") for line in tools) == sorted(load_registry())


@pytest.mark.slow
def test_the_installed_command_exits_0_then_1_on_a_bad_file(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "mm-assistants"
    if not command.exists():
        pytest.skip("the mm-assistants script is not installed beside this Python")
    good = subprocess.run(
        [str(command), "schemas", "check"], capture_output=True, text=True, timeout=60
    )
    assert good.returncode == 0, good.stderr
    assert "ok: 38 tools" in good.stdout
    root = tmp_path / "v1"
    shutil.copytree(Path(str(schema_dir("v1"))), root)
    path = root / "send_email.json"
    data = json.loads(path.read_text())
    data["parameters"]["properties"]["subject"]["default"] = "Hi"
    path.write_text(json.dumps(data))
    write_manifest("v1", root)  # hashes updated: only the strict rule is broken
    bad = subprocess.run(
        [str(command), "schemas", "check", "--dir", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "send_email.json: [strict] parameters.subject: keyword 'default'" in bad.stderr


def test_check_fails_with_the_file_and_rule(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "v1"
    shutil.copytree(Path(str(schema_dir("v1"))), root)
    path = root / "read_email.json"
    data = json.loads(path.read_text())
    data["parameters"]["additionalProperties"] = True
    path.write_text(json.dumps(data))
    code, _, err = run(capsys, "schemas", "check", "--dir", str(root))
    assert code == 1
    assert "read_email.json: [sha256]" in err
    assert "read_email.json: [strict] parameters: objects must set additionalProperties" in err


def test_list_shows_one_line_per_tool(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schemas", "list")
    assert code == 0
    assert len(out.splitlines()) == 38
    code, out, _ = run(capsys, "schemas", "list", "--profile", "reviewer")
    assert sorted(line.split()[0] for line in out.splitlines()) == [
        "check_inbox",
        "decide_email",
        "get_thread",
        "list_pending",
        "read_email",
    ]


def test_show_prints_the_definition(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schemas", "show", "send_email")
    assert code == 0
    assert json.loads(out)["name"] == "send_email"
    code, _, err = run(capsys, "schemas", "show", "send_mail")
    assert code == 1
    assert "unknown tool 'send_mail'" in err


def test_export_formats_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "schemas", "export", "--format", "responses", "--no-strict", "--mailbox-id", "m"
    )
    assert code == 0
    tools = json.loads(out)
    assert tools[0]["type"] == "function"
    assert tools[0]["strict"] is False
    assert all("mailbox_id" not in t["parameters"]["properties"] for t in tools)
    code, _, err = run(capsys, "schemas", "export", "--profile", "admin")
    assert code == 2  # a usage error: the message names the flag that fixes it
    assert "pass --allow-self-approval" in err
    assert "allow_self_approval" not in err
    code, out, _ = run(capsys, "schemas", "export", "--profile", "admin", "--allow-self-approval")
    assert len(json.loads(out)) == 38


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: mm-assistants" in capsys.readouterr().err


def test_the_schema_set_is_chosen_with_schema_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "schemas", "--schema-version", "v1", "list")
    assert code == 0
    assert "send_email" in out
    assert err == ""


def test_the_old_schemas_version_still_works_with_a_note(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "schemas", "--version", "v1", "list")
    assert code == 0
    assert "send_email" in out
    assert err.startswith("note: 'mm-assistants schemas --version' is now --schema-version")
    assert len(err.splitlines()) == 1


def test_the_help_shows_schema_version_not_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["schemas", "--help"])
    shown = capsys.readouterr().out
    assert "--schema-version" in shown
    assert "--version" not in shown.replace("--schema-version", "")


def test_the_top_level_version_is_the_programs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("mm-assistants ")


def test_an_unknown_tool_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "schemas", "show", "send_mail")
    assert code == 1
    assert (
        err == "mm-assistants schemas: unknown tool 'send_mail'; try 'mm-assistants schemas list'\n"
    )


def test_diff_says_in_words_what_v2_adds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "schemas", "diff", "v1", "v2")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("schemas v1 -> v2: 8 tools added, 0 removed, ")
    assert (
        "added tool report_spam (Report spam message): POST /v1/emails/{email_id}/report-spam, "
        "scope send" in lines
    )
    assert "update_mailbox: new optional parameter ai_disclosure (boolean)" in lines
    assert "resend_confirmation: new required parameter oversight_email (string)" in lines


def test_diff_json_is_the_same_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schemas", "diff", "v1", "v2", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["old_version"], data["new_version"]) == ("v1", "v2")
    assert len(data["added"]) == 8
    assert data["removed"] == []
    (resend,) = (tool for tool in data["changed"] if tool["name"] == "resend_confirmation")
    assert resend["endpoint"] == {"idempotent": {"old": True, "new": False}}
    assert resend["parameters"][0]["name"] == "oversight_email"
    assert resend["parameters"][0]["required"] is True


def test_diff_of_a_set_with_itself_is_empty(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schemas", "diff", "v2", "v2")
    assert (code, out) == (0, "schemas v2 -> v2: 0 tools added, 0 removed, 0 changed\n")


@pytest.mark.parametrize("argv", [("v1", "v9"), ("2", "v1")], ids=["new", "old"])
def test_diff_of_an_unknown_version_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, str]
) -> None:
    code, out, err = run(capsys, "schemas", "diff", *argv)
    assert (code, out) == (2, "")
    unknown = argv[1] if argv[0] == "v1" else argv[0]
    assert err == (
        f"mm-assistants schemas: unknown schema version {unknown!r}: the bundled ones are "
        "v1, v2 (e.g. 'mm-assistants schemas diff v1 v2')\n"
    )


def test_diff_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["schemas", "--help"])
    assert "diff" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["schemas", "diff", "--help"])
    out = capsys.readouterr().out
    assert "--json" in out
    assert "Bundled sets: v1, v2." in " ".join(out.split())


def test_the_readme_excerpt_of_the_diff_is_what_the_command_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.readme import README, code_blocks

    (excerpt,) = [
        block.text
        for block in code_blocks()
        if block.section == "Upgrading from v1 to v2"
        and block.language == "text"
        and block.text.startswith("schemas v1 -> v2")
    ]
    _, out, _ = run(capsys, "schemas", "diff", "v1", "v2")
    printed = out.splitlines()
    shown = [line for line in excerpt.splitlines() if line != "..."]
    assert all(line in printed for line in shown), set(shown) - set(printed)
    assert [line for line in printed if line in shown] == shown  # in the command's order
    assert f"{len(printed)} lines in all" in README.read_text(encoding="utf-8")
