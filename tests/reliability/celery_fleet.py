"""A whole Celery fleet on one machine, for the demo, the reliability campaign and the
benchmark: a throwaway Redis (the broker), the sandbox's webhooks into a web endpoint,
Celery workers and a beat, all on loopback, on a PostgreSQL database the caller gives.

`CeleryFleet` is a context manager: every process it started is stopped on the way out,
whatever happened (SIGTERM, then SIGKILL; a pool child orphaned by a killed main process
too). It kills on request: `kill_child` (the prefork pool child that runs the task),
`kill_main` (the worker's main process; its child may finish the task it holds) and
`restart_broker` (Redis restarted on the same port without persistence: every queued
message is gone, as the issue warns).

The workers print one line per task (`tests.reliability.celery_app.Reported`):
``TASK start|end NAME KEY pid=P at=T [action=A]``; `tasks` reads them back.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mm_assistants.sandbox import Sandbox
from tests.e2e.inbound import operator_post
from tests.fleet.fleet_support import Process, free_port, wait_until

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
QUEUE = "mm-assistants"
TASK_LINE = re.compile(r"TASK (start|end) (\w+) (\S+) pid=(\d+) at=([\d.]+)(?: action=(\S+))?")


def why_no_redis() -> str | None:
    """Why no Redis can be started here (``None``: one can)."""
    if not os.path.exists(REDIS):
        return "redis-server is not installed (make redis installs Debian's redis-server)"
    return None


class Broker:
    """redis-server on 127.0.0.1, a free port, a temp folder, no persistence."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mm-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Broker:
        argv = [REDIS, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder),
                "--save", "", "--appendonly", "no", "--protected-mode", "yes"]  # fmt: skip
        self.process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.folder
        )
        wait_until(self.ping, timeout=10, what="redis-server answering PING")
        return self

    def ping(self) -> bool:
        import redis

        try:
            return bool(self.call("PING"))
        except (OSError, redis.RedisError):
            return False

    def call(self, *command: str) -> Any:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            return client.execute_command(*command)
        finally:
            client.close()

    def commands(self) -> int:
        """Commands Redis has served since it started (INFO stats)."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            return int(client.info("stats")["total_commands_processed"])
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> None:
        """Gone and back on the same port, empty: queued messages are lost."""
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class TaskLine:
    """One ``TASK`` line a worker printed."""

    phase: str
    name: str
    key: str
    pid: int
    at: float
    action: str | None


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux /proc)."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found.extend(int(p) for p in text.split())
    except OSError:
        pass
    return found


def _signal(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, number)


class CeleryFleet:
    """Redis, a web endpoint subscribed to the sandbox's webhooks, ``workers`` Celery
    workers (prefork, one child each) and a beat; see the module docstring."""

    def __init__(
        self,
        sandbox: Sandbox,
        dsn: str,
        *,
        workers: int = 2,
        park_after: float = 3.0,
        lease: float = 6.0,
        beat_every: float = 1.0,
    ) -> None:
        self.sandbox, self.dsn, self.count = sandbox, dsn, workers
        self.knobs = {"MM_FLEET_PARK_AFTER": str(park_after), "MM_FLEET_LEASE": str(lease),
                      "MM_FLEET_BEAT": str(beat_every)}  # fmt: skip
        self.folder = Path(tempfile.mkdtemp(prefix="mm-fleet-"))
        self.broker = Broker()
        self.workers: list[Process | None] = [None] * workers
        self.started: list[Process] = []
        self.pids: set[int] = set()  # every worker process seen, pool children included
        self.web: Process | None = None
        self.env: dict[str, str] = {}

    # -- start and stop ------------------------------------------------------------------

    def __enter__(self) -> CeleryFleet:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.broker.start()
        port = free_port()
        answer = operator_post(
            self.sandbox,
            "/v1/webhooks",
            {
                "url": f"http://127.0.0.1:{port}/multimail/webhooks",
                "events": ["message.received", "oversight.approved", "oversight.rejected"],
            },
        )
        answer.raise_for_status()
        self.env = {
            **os.environ,
            **self.sandbox.environment(),
            **self.knobs,
            "MM_ASSISTANTS_DSN": self.dsn,
            "MM_BROKER_URL": self.broker.url,
            "MULTIMAIL_WEBHOOK_SECRET": answer.json()["signing_secret"],
            "PYTHONUNBUFFERED": "1",
        }
        self.web = self._start(
            "web", [sys.executable, "-m", "tests.reliability.celery_app", "web", "--port",
                    str(port)])  # fmt: skip
        wait_until(lambda: self._healthy(port), what="the web endpoint answering /health")
        for index in range(self.count):
            self.start_worker(index)
        schedule = str(self.folder / "beat-schedule")
        self._start("beat", [*self._celery(), "beat", "-s", schedule, "-l", "warning"])

    def _celery(self) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "tests.reliability.celery_app"]

    def _start(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv, self.env)
        self.started.append(process)
        return process

    @staticmethod
    def _healthy(port: int) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(self, index: int) -> Process:
        """Worker ``index`` (again): one prefork child, fair scheduling, prefetch 1."""
        argv = [*self._celery(), "worker", "--pool=prefork", "-c", "1",
                "--prefetch-multiplier=1", "-O", "fair", "-Q", QUEUE, "-n",
                f"w{index}-{len(self.started)}@%h", "--without-gossip", "--without-mingle",
                "-l", "warning"]  # fmt: skip
        process = self._start(f"worker{index}", argv)
        self.workers[index] = process
        self.pids.add(process.pid)
        wait_until(lambda: self.child(index) is not None, what=f"worker {index}'s pool child")
        return process

    def child(self, index: int) -> int | None:
        """The pool child of worker ``index`` (None while there is none)."""
        process = self.workers[index]
        if process is None or process.popen.poll() is not None:
            return None
        found = children(process.pid)
        self.pids.update(found)
        return found[0] if found else None

    def kill_child(self, index: int) -> int | None:
        """SIGKILL worker ``index``'s pool child (the main process starts another)."""
        pid = self.child(index)
        if pid is not None:
            _signal(pid, signal.SIGKILL)
        return pid

    def kill_main(self, index: int) -> int | None:
        """SIGKILL worker ``index``'s main process; its child is orphaned, not killed."""
        process = self.workers[index]
        if process is None:
            return None
        self.child(index)  # remember the child: it is stopped at the end whatever it does
        process.kill()
        self.workers[index] = None
        return process.pid

    def restart_broker(self) -> None:
        self.broker.restart()

    def close(self) -> None:
        """Stop everything this fleet started, whatever state it is in."""
        try:
            for process in reversed(self.started):
                try:
                    process.stop()
                except Exception:  # noqa: BLE001 -- stop the others whatever one did
                    process.popen.kill()
            for pid in self.pids:  # orphaned pool children of killed main processes
                _signal(pid, signal.SIGKILL)
        finally:
            self.broker.remove()
            shutil.rmtree(self.folder, ignore_errors=True)

    # -- what the workers said -----------------------------------------------------------

    def tasks(self) -> list[TaskLine]:
        """Every ``TASK`` line of every worker process so far."""
        found = []
        for process in self.started:
            for match in process.matches(TASK_LINE.pattern):
                phase, name, key, pid, at, action = match.groups()
                found.append(TaskLine(phase, name, key, int(pid), float(at), action))
        return found

    def output(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.output()}" for p in self.started)


class ReplyModel:
    """The sandbox's scripted model for these fleets (``scripted:reply``): answers each
    inbound email with one ``reply_email``, then says it is done. It runs inside the
    sandbox, so it also counts, per inbound email: the model turns taken (a re-run turn
    after a worker died is an allowed repeat) and the most times the email's notice
    appeared in one conversation (twice would be a forbidden duplicate)."""

    EMAIL = re.compile(r"email_id: (em_\w+)")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.turns: Counter[str] = Counter()
        self.posted: dict[str, int] = {}
        self.last_turn: dict[str, float] = {}

    def __call__(self, state: Any) -> dict[str, Any] | None:
        found = [m for msg in state.messages if msg.role == "user"
                 for m in self.EMAIL.findall(msg.text)]  # fmt: skip
        if not found:
            return {"say": "Nothing to answer."}
        email_id = found[-1]
        with self.lock:
            self.turns[email_id] += 1
            self.last_turn[email_id] = time.time()
            for seen in set(found):
                self.posted[seen] = max(self.posted.get(seen, 0), found.count(seen))
        outputs = [t for t in state.tool_outputs if t.name == "reply_email"]
        if outputs and state.turn > 0:
            return {"say": "Answered; the reply waits for a person or left."}
        return {
            "call": "reply_email",
            "arguments": {"email_id": email_id, "markdown": "Thank you, noted."},
        }


def replies(sandbox: Sandbox) -> dict[str, list[dict[str, Any]]]:
    """The outbound emails of the seeded mailbox by the inbound email they answer."""
    found: dict[str, list[dict[str, Any]]] = {}
    store = sandbox.multimail._ctx.store  # the sandbox's own records: what really exists
    for email in store.children("emails", sandbox.mailbox_id):
        if email.get("direction") == "outbound" and email.get("in_reply_to"):
            found.setdefault(email["in_reply_to"], []).append(email)
    return found


def sandbox_options(model: ReplyModel) -> dict[str, Any]:
    """A sandbox for these fleets: no reply de-duplication (a duplicate must show), no
    scan wait, webhooks retried fast, the reply model registered as ``reply``."""
    from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings

    return {
        "multimail_settings": MultiMailSandboxSettings(
            scan_delay=0.0, settle_interval=0.05, reply_dedupe_window=0.0
        ),
        "openai_settings": OpenAIEmulatorSettings(
            model_latency=0.05, poll_after_ms=20, scripts={"reply": model}
        ),
    }


def wait_all(check: Any, timeout: float, what: str) -> Any:
    """`wait_until` with a longer bound (whole campaigns)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")
