"""The offline demo, played in-process with a quick reviewer."""

from __future__ import annotations

import io
import json

import pytest

from mm_assistants.cli.demo import DemoOptions, run_demo
from mm_assistants.cli.main import main

QUICK = {"decide_after": 0.1, "model_latency": 0.0}


@pytest.mark.parametrize(
    ("api", "mode"),
    [
        pytest.param("assistants", "poll", id="assistants-poll"),
        pytest.param("assistants", "stream", id="assistants-stream"),
        pytest.param("responses", "poll", id="responses"),
    ],
)
def test_the_story_ends_with_the_reply_approved_and_sent(api: str, mode: str) -> None:
    out = io.StringIO()
    outcome = run_demo(DemoOptions(api=api, mode=mode, **QUICK), out)  # type: ignore[arg-type]
    assert outcome.status == "completed"
    assert [result.name for result in outcome.tool_results] == [
        "check_inbox",
        "read_email",
        "reply_email",
    ]
    assert [approval.decision for approval in outcome.approvals] == ["approved"]
    transcript = out.getvalue()
    assert "is held for a human's approval" in transcript
    assert "reviewer ▸ approved" in transcript
    assert "approved and sent" in outcome.text
    assert transcript.rstrip().splitlines()[-1].startswith("run completed · 3 tool calls")


def test_a_rejection_reaches_the_model_with_its_reason() -> None:
    out = io.StringIO()
    options = DemoOptions(decision="reject", reason="Wrong day.", **QUICK)  # type: ignore[arg-type]
    outcome = run_demo(options, out)
    assert [approval.reason for approval in outcome.approvals] == ["Wrong day."]
    assert "Wrong day." in outcome.text
    assert "rejected" in out.getvalue()


def test_the_person_at_the_terminal_decides_when_interactive() -> None:
    answers = iter(["r", "Not before Friday."])
    out = io.StringIO()
    options = DemoOptions(interactive=True, model_latency=0.0)
    outcome = run_demo(options, out, ask=lambda prompt: next(answers))
    assert [approval.decision for approval in outcome.approvals] == ["rejected"]
    assert "held for your review" in out.getvalue()
    assert "Not before Friday." in outcome.text


def test_json_mode_prints_only_the_outcome_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--json", "--decide-after", "0.1", "--api", "responses"])
    captured = capsys.readouterr()
    assert code == 0
    outcome = json.loads(captured.out)
    assert outcome["status"] == "completed"
    assert outcome["approvals"][0]["decision"] == "approved"
    assert "user ▸" in captured.err
