"""Test doubles for the router across a fleet: a Responses driver that parks and resumes on
cue, a dispatcher with a pending-approval store, and the route stores under test (memory
and SQLite) with a short lease."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mm_assistants.dispatch import ToolCall, ToolResult
from mm_assistants.drivers import RunOutcome, parking
from mm_assistants.state import (
    MemoryCheckpointStore,
    MemoryPendingStore,
    MemoryRouteStore,
    SQLiteRouteStore,
)
from mm_assistants.webhooks import MessageEvent, parse_event

PASSING = {"spam_verdict": "clean", "dkim": "pass", "spf": "pass", "dmarc": "pass"}
BACKENDS = ("memory", "sqlite")


def stores_of(request: Any, tmp_path: Path, lease: float) -> Iterator[Any]:
    """The body of a ``store`` fixture parametrized over `BACKENDS` and ``"postgres"``: the
    route store of ``request.param`` with ``lease``, closed after the test."""
    if request.param != "postgres":
        yield make_store(request.param, tmp_path, lease)
        return
    dsn = request.getfixturevalue("pg_dsn")  # skips where PostgreSQL cannot be had
    from mm_assistants.state.postgres import PostgresRouteStore  # the postgres extra

    routes = PostgresRouteStore(dsn, lease=lease)
    try:
        yield routes
    finally:
        routes.close()


def make_store(kind: str, tmp_path: Path, lease: float) -> Any:
    if kind == "memory":
        return MemoryRouteStore(lease=lease)
    return SQLiteRouteStore(tmp_path / "routes.db", lease=lease)


def email(number: int, *, thread: str = "thr_1") -> MessageEvent:
    event = parse_event(
        {
            "id": f"evt_{number}",
            "event": "message.received",
            "data": {
                "email_id": f"em_{number}",
                "thread_id": thread,
                "from": f"s{number}@example.com",
                "direction": "inbound",
                **PASSING,
            },
        }
    )
    assert isinstance(event, MessageEvent)
    return event


def mentions(items: Any, number: int) -> bool:
    """Whether Responses input items are the notice of email ``number``."""
    return any(f"email_id: em_{number}\n" in f"{item['content']}\n" for item in items)


def outcome(status: str, run_id: str | None = None, checkpoint: str | None = None) -> RunOutcome:
    result = RunOutcome(status, run_id=run_id)
    if checkpoint is not None:  # RunOutcome.checkpoint_id (parked runs)
        object.__setattr__(result, "checkpoint_id", checkpoint)
    return result


class Dispatcher:
    """Tags nothing (every test email is trusted); holds the pending-approval records."""

    mailbox_id = "mbx_1"

    def __init__(self) -> None:
        self.approval_store = MemoryPendingStore()

    def dispatch(self, call: ToolCall) -> ToolResult:
        raise AssertionError(f"no email should be held: {call.name}")

    def fetch_email(self, email_id: str, mailbox_id: str) -> dict[str, Any]:
        raise AssertionError("the events carry every verdict: no look-up expected")


class Parking:
    """The driver's checkpoint side, as far as the router reads it: ``store.get`` of
    checkpoints in the driver's own format (`mm_assistants.drivers.parking`)."""

    def __init__(self) -> None:
        self.store = MemoryCheckpointStore()

    def add(self, checkpoint_id: str, meta: dict[str, Any]) -> None:
        record = parking.RunCheckpoint(
            checkpoint_id=checkpoint_id,
            response_id="resp_held",
            phase="parked",
            request={},
            calls=(),
            registry="1",
            tools_sha256="0" * 64,
            scope={},
            parked_at=time.time(),
            meta=meta,
        )
        self.store.put(checkpoint_id, parking.encode(record), format_version=parking.FORMAT_VERSION)


Step = Callable[[], RunOutcome]


class Driver:
    """A Responses driver whose runs and resumes follow a script (``runs``/``resumes``:
    functions returning each call's outcome; by default a run completes at once)."""

    def __init__(self) -> None:
        self.parking = Parking()
        self.runs: list[tuple[Any, dict[str, Any]]] = []
        self.resumes: list[tuple[str, list[Any]]] = []
        self.run_script: list[Step] = []
        self.resume_script: list[Step] = []

    def run(self, items: Any, **options: Any) -> RunOutcome:
        self.runs.append((items, options))
        if self.run_script:
            return self.run_script.pop(0)()
        return outcome("completed", f"resp_run_{len(self.runs)}")

    def resume(self, checkpoint_id: str, *, follow_with: list[Any]) -> RunOutcome:
        self.resumes.append((checkpoint_id, list(follow_with)))
        return self.resume_script.pop(0)()


class AsyncDriver(Driver):
    """`Driver` awaited; a scripted step may return a coroutine, which is awaited."""

    async def run(self, items: Any, **options: Any) -> RunOutcome:  # type: ignore[override]
        await asyncio.sleep(0)
        result: Any = Driver.run(self, items, **options)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, RunOutcome)
        return result

    async def resume(  # type: ignore[override]
        self, checkpoint_id: str, *, follow_with: list[Any]
    ) -> RunOutcome:
        await asyncio.sleep(0)
        return Driver.resume(self, checkpoint_id, follow_with=follow_with)


class AsyncDispatcher(Dispatcher):
    async def dispatch(self, call: ToolCall) -> ToolResult:  # type: ignore[override]
        return Dispatcher.dispatch(self, call)


def waits(gate: threading.Event, result: RunOutcome, started: threading.Event) -> Step:
    """A step that says it started, then blocks until ``gate`` (bounded)."""

    def step() -> RunOutcome:
        started.set()
        assert gate.wait(10), "the test never opened the gate"
        return result

    return step
