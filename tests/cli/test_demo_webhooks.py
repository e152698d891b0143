"""``mm-assistants demo --webhooks``: the sandbox's signed webhooks start the run and wake
its approval wait, whose own status checks are 30 s apart."""

from __future__ import annotations

import io

import pytest

from mm_assistants.cli.demo_story import DemoOptions
from mm_assistants.cli.demo_webhooks import SLOW_CHECKS, run_webhook_demo
from mm_assistants.cli.main import main
from tests.cli.test_demo import STORY


@pytest.mark.parametrize(("decision", "reason"), [("approve", None), ("reject", "Not yet.")])
def test_webhooks_start_the_run_and_wake_the_wait(decision: str, reason: str | None) -> None:
    out = io.StringIO()
    options = DemoOptions(
        decision=decision, reason=reason, decide_after=0.1, model_latency=0.0, webhooks=True
    )
    outcome = run_webhook_demo(options, out)
    assert outcome.status == "completed"
    [approval] = outcome.approvals
    assert approval.decision == ("approved" if decision == "approve" else "rejected")
    assert approval.reason == reason
    assert approval.woken_by == "hub"
    assert approval.status_checks == 0
    assert approval.waited < SLOW_CHECKS  # no status check could have seen it yet
    transcript = out.getvalue()
    assert "webhook ◂ message.received (signature ok, router: started)" in transcript
    verb = "approved" if decision == "approve" else "rejected"
    assert f"webhook ◂ oversight.{verb} (signature ok, woke the approval wait)" in transcript


def test_webhooks_need_the_assistants_poll_driver(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--webhooks", "--api", "responses"]) == 2
    assert "--webhooks runs the Assistants poll driver" in capsys.readouterr().err


def test_webhooks_drive_the_story_on_schema_v2() -> None:
    out = io.StringIO()
    options = DemoOptions(decide_after=0.1, model_latency=0.0, webhooks=True, schema_version="v2")
    outcome = run_webhook_demo(options, out)
    assert outcome.status == "completed"
    assert [result.name for result in outcome.tool_results] == STORY
