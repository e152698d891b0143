"""Assistants runs start atomically, on the sandbox with the real ``openai`` SDK: the
messages go with ``runs.create`` (``additional_messages``), a worker that died after the
create leaves them on the thread exactly once when another retries, and a thread busy
with another run has that run driven instead of failing."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from mm_assistants import _sunset
from mm_assistants.dispatch import Dispatcher
from mm_assistants.drivers import AssistantsRunDriver
from mm_assistants.drivers.assistants_core import Mode
from mm_assistants.drivers.assistants_start import KEY_FIELD, ThreadBusyError
from mm_assistants.multimail import MultiMailClient
from mm_assistants.sandbox import Sandbox
from tests.drivers.atomic_support import (
    M1,
    M2,
    Crash,
    Wire,
    assistant,
    client,
    message_keys,
    new_thread,
    options,
    runs_of,
    start_run,
    user_texts,
    wait_ended,
)


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return options()


@pytest.fixture
def dispatcher(mm_sandbox: Sandbox) -> Iterator[Dispatcher]:
    with MultiMailClient(api_key=mm_sandbox.keys["send"], base_url=mm_sandbox.multimail_url) as mm:
        yield Dispatcher(mm, mailbox_id=mm_sandbox.mailbox_id, audit=None)


@pytest.fixture
def workers(mm_sandbox: Sandbox) -> Iterator[list[tuple[openai.OpenAI, Wire]]]:
    """Two workers' clients (each its own wire), closed at the end."""
    made = []
    for _ in range(2):
        wire = Wire()
        made.append((client(mm_sandbox, wire), wire))
    yield made
    for openai_client, _ in made:
        openai_client.close()


@pytest.mark.parametrize("mode", ["poll", "stream"])
def test_the_messages_go_with_the_run_create_not_before_it(
    mm_sandbox: Sandbox, dispatcher: Dispatcher, workers: Any, mode: Mode
) -> None:
    (openai_client, wire), _ = workers
    thread, asst = new_thread(mm_sandbox), assistant(mm_sandbox)
    driver = AssistantsRunDriver(openai_client, dispatcher, mode=mode)
    outcome = driver.run_messages(thread, asst, [M1, M2], check_posted=False)
    assert outcome.status == "completed"
    assert outcome.text == "Hello"
    assert wire.posts() == 0  # no messages.create before the run
    [create] = wire.creates()
    assert [m["metadata"][KEY_FIELD] for m in create["additional_messages"]] == ["em_1", "em_2"]
    assert user_texts(mm_sandbox, thread) == [M1.content, M2.content]


@pytest.mark.parametrize("mode", ["poll", "stream"])
@pytest.mark.parametrize("latency", [0.4, 0.0], ids=["run-still-active", "run-ended"])
def test_a_retry_after_a_crash_posts_each_message_once_and_starts_no_second_run(
    mm_sandbox: Sandbox, dispatcher: Dispatcher, workers: Any, mode: Mode, latency: float
) -> None:
    mm_sandbox.openai.update(model_latency=latency)
    (first_client, first_wire), (second_client, second_wire) = workers
    thread, asst = new_thread(mm_sandbox), assistant(mm_sandbox)
    first_wire.crash_after_create = True
    first = AssistantsRunDriver(first_client, dispatcher, mode=mode)
    with pytest.raises(Crash):
        first.run_messages(thread, asst, [M1, M2])
    if latency == 0.0:
        wait_ended(mm_sandbox, thread)  # the crash came after the run had finished
    second = AssistantsRunDriver(second_client, dispatcher, mode=mode)
    outcome = second.run_messages(thread, asst, [M1, M2])  # the redelivered task
    assert outcome.status == "completed"
    assert outcome.text == "Hello"
    [run] = runs_of(mm_sandbox, thread)
    assert outcome.run_id == run.id  # attached to the first worker's run
    assert second_wire.creates() == []
    assert message_keys(mm_sandbox, thread) == ["em_1", "em_2"]
    assert user_texts(mm_sandbox, thread) == [M1.content, M2.content]


def test_a_retry_with_more_mail_posts_only_the_new_message_after_the_active_run(
    mm_sandbox: Sandbox, dispatcher: Dispatcher, workers: Any
) -> None:
    mm_sandbox.openai.update(model_latency=0.3)
    (first_client, first_wire), (second_client, second_wire) = workers
    thread, asst = new_thread(mm_sandbox), assistant(mm_sandbox)
    first_wire.crash_after_create = True
    with pytest.raises(Crash):
        AssistantsRunDriver(first_client, dispatcher).run_messages(thread, asst, [M1])
    outcome = AssistantsRunDriver(second_client, dispatcher).run_messages(thread, asst, [M1, M2])
    first_run, second_run = runs_of(mm_sandbox, thread)
    assert first_run.status == "completed"  # driven to its end by the second worker
    assert (outcome.status, outcome.run_id) == ("completed", second_run.id)
    assert message_keys(mm_sandbox, thread) == ["em_1", "em_2"]
    # the second worker's accepted create carried only the message that was not there yet
    sent = [
        [m["metadata"][KEY_FIELD] for m in c["additional_messages"]] for c in second_wire.creates()
    ]
    assert sent == [["em_2"], ["em_2"]]  # refused while the first run was active, then started


def test_a_second_start_drives_the_active_run_then_its_own(
    mm_sandbox: Sandbox, dispatcher: Dispatcher, workers: Any
) -> None:
    (openai_client, wire), _ = workers
    thread, asks = new_thread(mm_sandbox), assistant(mm_sandbox, "ask")
    other = start_run(mm_sandbox, thread, asks)  # waits at requires_action: nobody drives it
    outcome = AssistantsRunDriver(openai_client, dispatcher).run(thread, asks)
    first, second = runs_of(mm_sandbox, thread)
    assert (first.id, first.status) == (other, "completed")  # its tool call was answered
    assert any(p.endswith(f"/runs/{other}/submit_tool_outputs") for _, p, _ in wire.sent)
    assert (outcome.status, outcome.run_id, outcome.text) == ("completed", second.id, "Read it")
    assert len(wire.creates()) == 2  # one refused (busy), one started


def test_a_thread_that_stays_busy_keeps_the_messages_with_the_caller(
    mm_sandbox: Sandbox, dispatcher: Dispatcher, workers: Any
) -> None:
    (openai_client, wire), _ = workers
    thread, asks = new_thread(mm_sandbox), assistant(mm_sandbox, "ask")
    other = start_run(mm_sandbox, thread, asks)  # stops at requires_action, stays active
    driver = AssistantsRunDriver(openai_client, dispatcher, on_requires_action="return")
    with pytest.raises(ThreadBusyError) as busy:
        driver.run_messages(thread, asks, [M1])
    assert busy.value.keys == ("em_1",)
    assert "Inbound email" not in str(busy.value)  # keys only, never the mail's words
    assert len(wire.creates()) == 3
    assert message_keys(mm_sandbox, thread) == []  # nothing posted: the caller still has it
    [run] = runs_of(mm_sandbox, thread)
    assert (run.id, run.status) == (other, "requires_action")


def test_the_sunset_warning_is_still_one_warning_at_the_users_line(
    mm_sandbox: Sandbox, dispatcher: Dispatcher, workers: Any
) -> None:
    (openai_client, _), _ = workers
    thread, asst = new_thread(mm_sandbox), assistant(mm_sandbox)
    _sunset.reset()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        driver = AssistantsRunDriver(openai_client, dispatcher)
        driver.run_messages(thread, asst, [M1])
        driver.run_messages(thread, asst, [M1, M2])  # the look-ups warn no more either
    assert [w.category for w in caught] == [_sunset.AssistantsSunsetWarning]
    assert caught[0].filename == __file__
    assert message_keys(mm_sandbox, thread) == ["em_1", "em_2"]
