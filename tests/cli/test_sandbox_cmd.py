"""``mm-assistants sandbox`` as a person runs it: a real process on loopback."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

READY = re.compile(r"ready in (?P<seconds>[0-9.]+) s")


def start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mm_assistants.cli.main", "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Ctrl-C"):
            return process, lines
    process.kill()
    process.communicate()
    raise AssertionError(f"the sandbox did not get ready: {lines} {process.stderr}")


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=15)  # also closes the pipes
    return process.returncode


def value(lines: list[str], label: str) -> str:
    for line in lines:
        if line.strip().startswith(label):
            return line.split()[-1]
    raise AssertionError(f"no {label!r} line in {lines}")


def test_it_prints_where_and_keys_and_answers_health(tmp_path: Path) -> None:
    process, lines = start("--db", str(tmp_path / "sb.db"))
    try:
        assert READY.search(lines[0]) is not None  # how fast is measured, not asserted
        base = value(lines, "MultiMail API")
        assert base.startswith("http://127.0.0.1:")
        assert value(lines, "OpenAI API") == f"{base}/openai/v1"
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}
        review = next(line for line in lines if line.strip().startswith("review page"))
        assert httpx.get(review.split()[2]).status_code == 200  # the page itself
        keys = {scope: value(lines, f"key {scope}") for scope in ("read", "send", "oversight")}
        answer = httpx.get(
            f"{base}/v1/mailboxes", headers={"Authorization": f"Bearer {keys['read']}"}
        )
        assert answer.status_code == 200
        assert any("export MULTIMAIL_API_KEY=" in line for line in lines)
    finally:
        assert stop(process) == 0


def test_a_restart_on_the_same_db_keeps_the_keys(tmp_path: Path) -> None:
    db = str(tmp_path / "sb.db")
    first, lines = start("--db", db)
    stop(first)
    second, again = start("--db", db)
    stop(second)
    assert value(lines, "key send") == value(again, "key send")
    assert mailbox(lines) == mailbox(again)


def mailbox(lines: list[str]) -> str:
    return next(line.split()[1] for line in lines if line.strip().startswith("mailbox"))


def test_a_non_loopback_host_is_refused_with_a_reason() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "mm_assistants.cli.main", "sandbox", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert finished.returncode == 2
    assert "not a loopback address" in finished.stderr


def test_it_prints_the_control_token_that_opens_the_controls() -> None:
    process, lines = start()
    try:
        base = value(lines, "MultiMail API")
        exported = [line for line in lines if "export MM_SANDBOX_TOKEN=" in line]
        assert len(exported) == 1
        token = exported[0].split("=", 1)[1]
        inbound = {"sender": "ana@example.com", "subject": "Hi", "markdown": "?"}
        assert httpx.post(f"{base}/sandbox/inbound", json=inbound).status_code == 403
        opened = httpx.post(
            f"{base}/sandbox/inbound", json=inbound, headers={"X-Sandbox-Token": token}
        )
        assert opened.status_code == 201
    finally:
        assert stop(process) == 0


def test_a_taken_port_is_one_line_that_suggests_port_0() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        finished = subprocess.run(
            [sys.executable, "-m", "mm_assistants.cli.main", "sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert finished.returncode == 2
    assert finished.stdout == ""
    assert finished.stderr.splitlines() == [
        f"mm-assistants sandbox: port {port} on 127.0.0.1 is already in use (another "
        "sandbox?): stop what holds it, or pass --port 0 to take any free port (the lines "
        "printed then carry the port bound)"
    ]


def test_port_0_prints_the_port_bound_and_every_line_carries_it() -> None:
    process, lines = start()
    try:
        port = int(value_after(lines, "port"))
        assert port > 0
        assert value(lines, "MultiMail API") == f"http://127.0.0.1:{port}"
        exports = [line for line in lines if "_URL=" in line or "BASE_URL=" in line]
        assert exports
        assert all(f"127.0.0.1:{port}" in line for line in exports)
        assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"status": "ok"}
    finally:
        assert stop(process) == 0


def value_after(lines: list[str], label: str) -> str:
    for line in lines:
        words = line.split()
        if words and words[0] == label:
            return words[1]
    raise AssertionError(f"no {label!r} line in {lines}")
