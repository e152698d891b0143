"""Each decision written once (issue 13, item 4): the sync and async drivers share the
store's steps for late decisions and one definition of a run's terminal statuses."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import respx

from mm_assistants import (
    AssistantsRunDriver,
    AsyncAssistantsRunDriver,
    AsyncDispatcher,
    AsyncMultiMailClient,
    Dispatcher,
    MemoryPendingStore,
    MultiMailClient,
    PendingRecord,
)
from mm_assistants.approvals import ApprovalOutcome
from mm_assistants.approvals import store as store_module
from mm_assistants.drivers import steps
from mm_assistants.drivers.assistants_core import CANCEL_GRACE, RunState
from tests.drivers.conftest import FAST, KEY, MM, Clock, fake
from tests.drivers.test_assistants_driver import MODES, drive

DECIDED = ApprovalOutcome(email_id="em_out", decision="rejected", reason="the store decided")


def _record() -> PendingRecord:
    return PendingRecord(
        email_id="em_out", mailbox_id="mbx_1", call_id="call_1", tool="send_email", thread_id="t"
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_both_resolvers_take_the_stores_decision(
    mode: str, multimail: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The email still reads as held; only the store's (patched) decision says otherwise,
    # so a twin that decides for itself delivers nothing.
    multimail.get("/v1/mailboxes/mbx_1/emails/em_out").respond(
        200, json={"id": "em_out", "status": "pending_send_approval"}
    )
    monkeypatch.setattr(store_module, "late_outcome", lambda record, email, **_: DECIDED)
    store = MemoryPendingStore()
    store.add(_record())
    posted: list[tuple[str, ApprovalOutcome]] = []

    if mode == "sync":
        with MultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
            driver = AssistantsRunDriver(None, Dispatcher(client, approval_store=store))  # type: ignore[arg-type]
            driver.post_late_decision = lambda r, o: posted.append((r.email_id, o))  # type: ignore[method-assign]
            delivered = driver.resolve_pending()
    else:

        async def scenario() -> list[ApprovalOutcome]:
            async with AsyncMultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
                dispatcher = AsyncDispatcher(client, approval_store=store)
                driver = AsyncAssistantsRunDriver(None, dispatcher)  # type: ignore[arg-type]

                async def post(record: PendingRecord, outcome: ApprovalOutcome) -> None:
                    posted.append((record.email_id, outcome))

                driver.post_late_decision = post  # type: ignore[method-assign]
                return await driver.resolve_pending()

        delivered = asyncio.run(scenario())
    assert delivered == [DECIDED]
    assert posted == [("em_out", DECIDED)]
    assert store.all() == []


@pytest.mark.parametrize("status", sorted(steps.TERMINAL_STATUSES))
def test_one_definition_of_the_terminal_statuses(status: str) -> None:
    assert steps.is_terminal(status)
    assert "incomplete" in steps.TERMINAL_STATUSES
    assert not steps.is_terminal("requires_action")
    assert not steps.is_terminal("cancelling")


@pytest.mark.parametrize("mode", MODES)
def test_an_incomplete_run_ends_the_drive_with_that_status(
    mode: str, clock: Clock, multimail: respx.MockRouter
) -> None:
    server = fake(["unused"], clock)
    server.final_status = "incomplete"
    outcome = drive(mode, server)
    assert (outcome.status, outcome.incomplete_reason) == ("incomplete", "max_prompt_tokens")
    assert not [path for _, path in server.requests if path.endswith("/cancel")]


def test_a_cancelled_task_sends_no_cancel_for_an_incomplete_run() -> None:
    class Wire:
        cancels = 0

        async def cancel(self, thread_id: str, run_id: str) -> Any:
            self.cancels += 1

    driver = AsyncAssistantsRunDriver(None, None)  # type: ignore[arg-type]
    state = RunState(started=0.0, deadline=None, thread_id="thread_1")
    state.run = SimpleNamespace(id="run_1", status="incomplete")
    wire = Wire()
    asyncio.run(driver._cancel_quietly(wire, state))  # type: ignore[arg-type]
    assert wire.cancels == 0


@pytest.mark.parametrize("status", ["completed", "incomplete", "failed"])
def test_a_run_that_ended_after_its_cancel_keeps_its_real_status(status: str) -> None:
    now = [1000.0]
    driver = AssistantsRunDriver(None, None, clock=lambda: now[0])  # type: ignore[arg-type]
    state = driver.new_state("thread_1")
    state.run = SimpleNamespace(id="run_1", status=status)
    state.cancel_sent_at = 1000.0
    now[0] += CANCEL_GRACE + 1  # long past the grace: the run still ended as it ended
    action = driver.next_for(state)
    assert getattr(action, "status", None) == status


def _status_sets() -> list[tuple[str, int, set[str]]]:
    """Every literal set/tuple/list of strings in the library (the sandbox, a separate
    server, aside) that holds a run or held-email status."""
    import ast
    from pathlib import Path

    import mm_assistants

    root = Path(mm_assistants.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if "sandbox" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Set, ast.Tuple, ast.List)):
                words = {
                    e.value
                    for e in node.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                }
                if words & {"pending_send_approval", "expired", "incomplete"} and len(words) > 1:
                    found.append((str(path.relative_to(root)), node.lineno, words))
    return found


def test_the_status_lists_are_written_once() -> None:
    places = {(path, frozenset(words)) for path, _, words in _status_sets()}
    pending = [p for p, words in places if "pending_send_approval" in words]
    terminal = [p for p, words in places if {"expired", "incomplete"} & words]
    assert pending == ["approvals/watch.py"]  # PENDING_STATUSES
    assert terminal == ["drivers/steps.py"]  # TERMINAL_STATUSES
