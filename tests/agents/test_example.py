"""examples/agents_inbox.py run as a user runs it: a subprocess pointed at the sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from mm_assistants.sandbox import Sandbox
from tests.e2e.conftest import Reviewer, deliveries

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agents_inbox.py"


def test_the_example_answers_an_email_with_an_approved_reply(
    sandbox: Sandbox, inbound: dict[str, Any], tmp_path: Path
) -> None:
    with Reviewer(sandbox, "approve"):
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), "Answer my email"],
            env={**os.environ, **sandbox.environment()},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 0, done.stderr
    calls = re.findall(r"^  call   (\w+)$", done.stdout, re.MULTILINE)
    assert calls == ["check_inbox", "read_email", "reply_email"]
    assert '"status":"approved_and_sent"' in done.stdout
    assert "approved and sent" in done.stdout.splitlines()[-1]
    assert len(deliveries(sandbox)) == 1
