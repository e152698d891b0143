"""The README's "Tools in ten lines" example runs as printed, in ten lines."""

from __future__ import annotations

from typing import Any

import pytest

from tests.readme import python_blocks


def test_the_ten_line_example_loads_exports_and_binds(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = python_blocks("Tools in ten lines")
    assert len([line for line in block.splitlines() if line.strip()]) <= 10
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert len(namespace["registry"]) == 38
    tools = namespace["tools"]
    assert tools
    assert all(tool["type"] == "function" and "name" in tool for tool in tools)
    assert all("mailbox_id" not in tool["parameters"]["properties"] for tool in tools)
    request = namespace["request"]
    assert (request.method, request.path) == ("POST", "/v1/mailboxes/mbx_1/send")
    assert request.json == {"to": ["ana@example.com"], "subject": "Hi", "markdown": "Hello"}
    printed = capsys.readouterr().out
    assert printed.startswith("POST /v1/mailboxes/mbx_1/send {")  # as the comment says
