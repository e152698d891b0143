"""The exported tool definitions of v1, byte for byte (issue 14).

What the model is given is a compatibility promise: a definition that changes shape (a key
moved, a limit sentence reworded, a property dropped by the strict form) changes what
every assistant sees. Each format, strictness and profile has a golden file under
tests/golden/tools_v1/, generated once; a change to one is made on purpose:

    MM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/tools/test_exports_golden.py
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mm_assistants.tools import load_registry
from tests import golden

CASES = [
    pytest.param(fmt, profile, strict, mailbox, id=f"{fmt}-{profile}-{kind}{suffix}")
    for fmt in ("assistants", "chat", "responses")
    for profile, strict, kind, mailbox, suffix in (
        ("admin", True, "strict", None, ""),
        ("admin", False, "relaxed", None, ""),
        ("agent", True, "strict", None, ""),
        ("agent", True, "strict", "mbx_1", "-mailbox-pinned"),
        ("reviewer", False, "relaxed", None, ""),
    )
]


@pytest.mark.parametrize(("fmt", "profile", "strict", "mailbox"), CASES)
def test_every_exported_definition_is_byte_identical_to_its_golden_file(
    request: pytest.FixtureRequest, fmt: str, profile: str, strict: bool, mailbox: str | None
) -> None:
    tools: list[dict[str, Any]] = load_registry("v1").tools(
        fmt,  # type: ignore[arg-type]
        profile=profile,
        strict=strict,
        mailbox_id=mailbox,
        allow_self_approval=profile == "admin",
    )
    # Key order is part of what the SDK sends, so it is kept as exported (no sort_keys).
    text = json.dumps(tools, indent=2, ensure_ascii=False) + "\n"
    name = request.node.callspec.id
    golden.check_text(f"tools_v1/{name}.json", text)
