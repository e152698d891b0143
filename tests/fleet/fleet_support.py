"""What the multi-process fleet tests share: processes that are always stopped, bounded
waits on what they print, and what a process holds (threads, sockets, PostgreSQL backends).

Run as a program, it is a fleet worker with a hook the example does not have (the test
kills it at a chosen moment)::

    python -m tests.fleet.fleet_support before_submit examples/fleet_worker.py ARGS...
    python -m tests.fleet.fleet_support after_submit examples/fleet_worker.py ARGS...
    python -m tests.fleet.fleet_support gated examples/fleet_worker.py ARGS...

``before_submit``/``after_submit``: the first OpenAI request of a resume prints ``PAUSED``
and blocks for good just before it is sent / just after it was answered. ``gated``: every
run after the first waits for a line on stdin (``WAITING`` is printed first), so a test can
look at the worker between runs.

``FLEET_SHOW=1`` prints what every process said when it is stopped (for debugging).
"""

from __future__ import annotations

import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
#: The longest any single wait of these tests may take.
WAIT = 30.0


class Process:
    """A child process whose output (stdout and stderr together) is read as it comes."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        *,
        stdin: bool = False,
    ) -> None:
        self.name = name
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def matches(self, pattern: str) -> list[re.Match[str]]:
        """Every line that matches ``pattern`` so far."""
        with self._changed:
            found = [re.search(pattern, line) for line in self.lines]
        return [m for m in found if m is not None]

    def wait_for(self, pattern: str, *, count: int = 1, timeout: float = WAIT) -> re.Match[str]:
        """The ``count``-th line that matches ``pattern``; fails, showing the output, when
        none comes within ``timeout`` seconds or the process ended."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for m in (re.search(pattern, s) for s in self.lines) if m]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                ended = self.popen.poll() is not None and not self._reader.is_alive()
                if left <= 0 or ended:
                    why = "ended" if ended else f"said nothing like it in {timeout} s"
                    raise AssertionError(
                        f"{self.name} {why} (wanted {count} x {pattern!r}):\n{self.output()}"
                    )
                self._changed.wait(min(left, 0.5))

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, like a machine that lost power."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(WAIT)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still there after a few seconds."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(WAIT)
        self._reader.join(5)
        for pipe in (self.popen.stdin, self.popen.stdout):
            if pipe is not None:
                pipe.close()

    # -- what the process holds (Linux /proc) -------------------------------------------

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def sockets(self) -> int:
        folder = f"/proc/{self.pid}/fd"
        count = 0
        for fd in os.listdir(folder):
            try:
                count += os.readlink(f"{folder}/{fd}").startswith("socket:")
            except OSError:
                continue  # closed while we looked
        return count


@contextmanager
def processes() -> Iterator[list[Process]]:
    """A list to add started processes to; every one is stopped at the end, whatever
    happened (SIGTERM, then SIGKILL)."""
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in started:
            if os.environ.get("FLEET_SHOW"):  # debugging: what each process said
                print(f"--- {process.name} ---\n{process.output()}")
            try:
                process.stop()
            except Exception:  # noqa: BLE001 -- stop the others whatever one did
                process.popen.kill()


def with_application_name(dsn: str, name: str) -> str:
    """``dsn`` with an ``application_name``, so the test can find its backends."""
    parts = urlsplit(dsn)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({"application_name": name})))


def backends(admin: Any, application_name: str, *, listening: bool | None = None) -> int:
    """How many backends a process (by ``application_name``) holds on the server;
    ``listening``: only those whose last statement was a LISTEN (or only the others)."""
    rows = admin.execute(
        "SELECT query FROM pg_stat_activity"
        " WHERE application_name = %s AND pid <> pg_backend_pid()",
        (application_name,),
    ).fetchall()
    if listening is None:
        return len(rows)
    return sum(row[0].lstrip().upper().startswith("LISTEN") == listening for row in rows)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Any, *, timeout: float = WAIT, what: str = "the condition") -> Any:
    """Poll ``check()`` until it is truthy (returned) or ``timeout`` passes (fails)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


# -- the hooked worker (python -m tests.fleet.fleet_support MODE SCRIPT ARGS...) ---------


def _hang(message: str) -> None:
    print(message, flush=True)
    while True:
        time.sleep(3600)  # until the test kills this process


def _install(mode: str) -> None:
    from openai.resources.responses import Responses

    from mm_assistants.drivers import ResponsesDriver

    resuming = threading.local()
    original_resume, original_run, original_create = (
        ResponsesDriver.resume,
        ResponsesDriver.run,
        Responses.create,
    )

    def resume(self: Any, *args: Any, **kwargs: Any) -> Any:
        resuming.on = True
        try:
            return original_resume(self, *args, **kwargs)
        finally:
            resuming.on = False

    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not getattr(resuming, "on", False):
            return original_create(self, *args, **kwargs)
        if mode == "before_submit":
            _hang("PAUSED before submit")
        response = original_create(self, *args, **kwargs)
        _hang(f"PAUSED after submit {response.id}")
        return response  # never reached

    runs = iter(range(1_000_000))

    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        if next(runs):
            print("WAITING", flush=True)
            sys.stdin.readline()
        return original_run(self, *args, **kwargs)

    if mode in ("before_submit", "after_submit"):
        ResponsesDriver.resume = resume  # type: ignore[method-assign]
        Responses.create = create  # type: ignore[method-assign]
    elif mode == "gated":
        ResponsesDriver.run = run  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    _install(sys.argv[1])
    script = sys.argv[2]
    sys.argv = [script, *sys.argv[3:]]
    runpy.run_path(script, run_name="__main__")
