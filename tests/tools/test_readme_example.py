"""The README's "Tools in ten lines" example runs as printed, in ten lines."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks(heading: str) -> list[str]:
    """The ```python blocks of the README section that starts with ``## heading``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


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
