"""The report: verdicts, the quirks table's signs, the table, the JSON file and the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.quirks import known
from conformance.report import Result, exit_code, table, totals, write_json

NOT_EMULATED = "404 The sandbox does not emulate POST /v1/support"


@pytest.mark.parametrize(
    ("result", "verdict"),
    [
        pytest.param(Result("c", "1", "t", True), "pass", id="pass"),
        pytest.param(Result("c", "1", "t", False, "why", skipped=True), "skip", id="skip"),
        pytest.param(Result("c", "1", "t", False, "boom"), "FAIL", id="unlisted-failure"),
        pytest.param(
            Result("schemathesis", "4", "POST /v1/support", False, NOT_EMULATED),
            "known",
            id="listed-quirk",
        ),
        pytest.param(
            Result("schemathesis", "4", "POST /v1/support", False, "500 Server error"),
            "FAIL",
            id="listed-item-other-failure",
        ),
    ],
)
def test_verdicts(result: Result, verdict: str) -> None:
    assert result.verdict == verdict


def test_a_quirk_needs_its_sign_and_a_prefix_entry_covers_its_items() -> None:
    assert known("schemathesis", "POST /v1/domains/{id}/verify", "The sandbox does not emulate")
    assert known("schemathesis", "POST /v1/domains/{id}/verify", "Server error") is None
    assert known("multimail-mcp-server", "POST /v1/support", NOT_EMULATED) is None


def test_only_an_unlisted_failure_fails_the_run(tmp_path: Path) -> None:
    fine = [
        Result("c", "1", "a", True),
        Result("schemathesis", "4", "POST /v1/support", False, NOT_EMULATED),
        Result("c", "1", "b", False, "no node", skipped=True),
    ]
    assert exit_code(fine) == 0
    assert exit_code([*fine, Result("c", "1", "d", False, "isError: boom")]) == 1
    assert totals(fine) == {"pass": 1, "FAIL": 0, "known": 1, "skip": 1}

    printed = table([*fine, Result("c", "1", "d", False, "isError:\n  boom")], width=200)
    assert "not emulated: support messages" in printed  # a known failure shows its reason
    assert "isError: boom" in printed  # on one line
    assert printed.splitlines()[-1] == "4 checks: 1 pass, 1 fail, 1 known quirks, 1 skipped"

    write_json(fine, tmp_path / "build" / "conformance.json", seconds=1.25)
    document = json.loads((tmp_path / "build" / "conformance.json").read_text("utf-8"))
    assert document["totals"] == {"pass": 1, "FAIL": 0, "known": 1, "skip": 1}
    assert [row["verdict"] for row in document["results"]] == ["pass", "known", "skip"]
    assert document["results"][1]["quirk"].startswith("not emulated")
