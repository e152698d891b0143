"""The offline demo, played in-process with a quick reviewer."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from mm_assistants.cli.demo import run_demo
from mm_assistants.cli.demo_story import DemoOptions
from mm_assistants.cli.main import main
from mm_assistants.tools import load_registry
from tests.cli.signals import interruptible

QUICK = {"decide_after": 0.1, "model_latency": 0.0}
#: The story's tool calls, in every schema set.
STORY = ["check_inbox", "read_email", "reply_email"]


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
    assert [result.name for result in outcome.tool_results] == STORY
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


def test_a_rejection_never_reads_as_sent() -> None:
    out = io.StringIO()
    options = DemoOptions(decision="reject", reason="Wrong day.", **QUICK)  # type: ignore[arg-type]
    outcome = run_demo(options, out)
    transcript = out.getvalue()
    assert "✓ reply_email" not in transcript
    assert "✗ reply_email: rejected by the reviewer, not sent" in transcript
    assert "I replied" not in outcome.text
    assert "nothing was sent" in outcome.text


def test_the_demo_points_at_the_review_page() -> None:
    out = io.StringIO()
    run_demo(DemoOptions(**QUICK), out)  # type: ignore[arg-type]
    transcript = out.getvalue()
    match = re.search(r"review     (http://127\.0\.0\.1:\d+/review/) ", transcript)
    assert match, transcript
    assert "decide there within 0.1 s, or the scripted reviewer approves it" in transcript


def test_a_decision_on_the_review_page_beats_the_scripted_reviewer() -> None:
    out = io.StringIO()
    decided: dict[str, object] = {}

    def reviewer_in_a_browser() -> None:
        # what the page's script does: read the token, then the queue, then decide
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = re.search(r"review     (\S+/review/)", out.getvalue())
            if match and "is held for a human's approval" in out.getvalue():
                page = match.group(1)
                held = httpx.get(page + "api/pending", timeout=5).json()["emails"]
                if held:
                    token = re.search(
                        r'data-review-token="([^"]+)"', httpx.get(page, timeout=5).text
                    )
                    assert token
                    answer = httpx.post(
                        page + "api/decide",
                        json={"email_id": held[0]["id"], "action": "approve"},
                        headers={"X-Review-Request": "1", "X-Review-Token": token.group(1)},
                        timeout=5,
                    )
                    decided["answer"] = answer.json()
                    return
            time.sleep(0.1)

    browser = threading.Thread(target=reviewer_in_a_browser, daemon=True)
    browser.start()
    options = DemoOptions(decide_after=60.0, max_wait=20.0, model_latency=0.0)
    outcome = run_demo(options, out)
    browser.join(5)
    assert decided["answer"]["status"] in ("approved", "approved_and_sent")  # type: ignore[index]
    assert [approval.decision for approval in outcome.approvals] == ["approved"]
    # the script did not decide again, nor fail (the run may end before it looks again)
    assert "reviewer ▸ approved" not in out.getvalue()


def demo_process() -> subprocess.Popen[str]:
    """``mm-assistants demo --interactive`` in its own process, stdin and stdout piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "mm_assistants.cli.main", "demo", "--interactive"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )


def test_end_of_input_at_the_interactive_prompt_ends_with_one_line() -> None:
    process = demo_process()
    out, err = process.communicate("", timeout=60)  # Ctrl-D: stdin ends at the prompt
    assert "approve or reject?" in out
    assert "Traceback" not in out + err
    assert err.strip().splitlines() == ["mm-assistants demo: interrupted"]
    assert process.returncode == 130


def test_ctrl_c_at_the_interactive_prompt_ends_with_one_line() -> None:
    process = demo_process()
    assert process.stdout is not None
    for line in process.stdout:  # the box is printed line by line before the prompt
        if "held for your review" in line:
            break
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert "Traceback" not in out + err
    assert err.strip().splitlines() == ["mm-assistants demo: interrupted"]
    assert process.returncode == 130


def test_json_mode_prints_only_the_outcome_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--json", "--decide-after", "0.1", "--api", "responses"])
    captured = capsys.readouterr()
    assert code == 0
    outcome = json.loads(captured.out)
    assert outcome["status"] == "completed"
    assert outcome["approvals"][0]["decision"] == "approved"
    assert "user ▸" in captured.err


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_the_story_runs_on_schema_v2(api: str) -> None:
    out = io.StringIO()
    options = DemoOptions(api=api, schema_version="v2", **QUICK)  # type: ignore[arg-type]
    outcome = run_demo(options, out)
    assert outcome.status == "completed"
    assert [result.name for result in outcome.tool_results] == STORY
    assert [approval.decision for approval in outcome.approvals] == ["approved"]
    if api == "assistants":
        # v2's agent profile: v1's plus report_spam
        assert "tools from the bundled v2 'agent' schemas" in out.getvalue()
        assert f"with {len(load_registry('v2').resolve(profile='agent'))} tools" in out.getvalue()


def test_the_demo_command_takes_a_schema_version(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--json", "--decide-after", "0.1", "--schema-version", "v2"])
    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out)["status"] == "completed"
    assert "from the bundled v2 'agent' schemas" in captured.err
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--schema-version", "v9"])
    assert exited.value.code == 2
    assert "--schema-version: invalid choice: 'v9'" in capsys.readouterr().err
