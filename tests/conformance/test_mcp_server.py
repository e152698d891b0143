"""MultiMail's own MCP server (0.7.0-spam, built from its published source) against the
sandbox: every tool it marks read-only (and read_email), and one send held, approved through
the control API and read back. The full run (both versions, every tool) is
``make conformance``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.mcp_run import STEPS, run_mcp
from conformance.mcp_stdio import missing

VERSION = "0.7.0-spam"
SNAPSHOT = Path(__file__).parents[1] / "tools" / f"mcp_tools_list_{VERSION}.json"
LISTED = json.loads(SNAPSHOT.read_text("utf-8"))["tools"]
READ_ONLY = [t["name"] for t in LISTED if t.get("annotations", {}).get("readOnlyHint")]


def test_every_tool_the_server_lists_has_a_step() -> None:
    assert sorted(STEPS) == sorted(tool["name"] for tool in LISTED)


@pytest.mark.slow
@pytest.mark.skipif(missing(VERSION) is not None, reason=str(missing(VERSION)))
def test_read_tools_and_a_send_approved_pass() -> None:
    chosen = {*READ_ONLY, "read_email", "send_email"}
    assert {"check_inbox", "read_email", "download_attachment", "wait_for_email"} <= chosen

    results = run_mcp(VERSION, only=chosen)
    if len(results) == 1 and results[0].skipped:
        pytest.skip(results[0].reason)

    assert sorted(r.item for r in results) == sorted(chosen)
    assert [(r.item, r.reason) for r in results if not r.passed] == []
