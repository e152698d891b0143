"""The README's run and sandbox examples run as printed, against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox
from tests.e2e.conftest import Reviewer
from tests.readme import python_blocks


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {"multimail_settings": MultiMailSandboxSettings(scan_delay=0.0)}


def test_the_fifteen_line_run_drives_a_reply_through_its_approval(
    mm_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (block,) = python_blocks("Drive a run in fifteen lines")
    assert len([line for line in block.splitlines() if line.strip()]) <= 15
    for name, value in mm_sandbox.environment().items():
        monkeypatch.setenv(name, value)
    mm_sandbox.multimail.inject_inbound(sender="ana@example.com", subject="Call?", markdown="?")
    with Reviewer(mm_sandbox, "approve"):
        # the sandbox's mailbox for the README's placeholder; a failing reviewer must not
        # leave the run waiting the README's five minutes
        code = block.replace("mbx_1", mm_sandbox.mailbox_id).replace("max_wait=300", "max_wait=10")
        namespace: dict[str, Any] = {}
        exec(compile(code, "README.md", "exec"), namespace)
    namespace["dispatcher"].client.close()  # a script may leave them to the exit; a test not
    namespace["driver"].openai.close()
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("completed ")
    assert printed[1].endswith(" approved None")


def test_the_pytest_example_passes_with_the_fixture(mm_sandbox: Sandbox) -> None:
    (block,) = python_blocks("The sandbox: MultiMail and OpenAI on your machine")
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    namespace["test_my_agent_can_read_its_inbox"](mm_sandbox)
