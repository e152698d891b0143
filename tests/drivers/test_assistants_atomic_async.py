"""Atomic Assistants starts under asyncio, and through the inbound routers: a worker that
died right after its run was created leaves its mail on the OpenAI thread exactly once
when another worker picks the thread up (`drain`), with no second run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.drivers import AssistantsRunDriver, AsyncAssistantsRunDriver
from mm_assistants.inbound import AsyncInboundRouter, InboundRouter, MemoryRouteStore
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient
from mm_assistants.sandbox import Sandbox
from mm_assistants.state import backoff
from tests.drivers.atomic_support import (
    M1,
    M2,
    Crash,
    Wire,
    assistant,
    async_client,
    client,
    message_keys,
    new_thread,
    options,
    runs_of,
    start_run,
    user_texts,
)
from tests.e2e.inbound import received


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # the routers below drain a crashed start at once; the wait a raised run gets before it
    # is due again (state.backoff) is tests/inbound/test_work_backoff.py's subject
    monkeypatch.setattr(backoff, "BACKOFF_BASE", 0.0)


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return options()


@pytest.fixture
async def adispatcher(mm_sandbox: Sandbox) -> AsyncIterator[AsyncDispatcher]:
    async with AsyncMultiMailClient(
        api_key=mm_sandbox.keys["send"], base_url=mm_sandbox.multimail_url
    ) as mm:
        yield AsyncDispatcher(mm, mailbox_id=mm_sandbox.mailbox_id, audit=None)


@pytest.fixture
def dispatcher(mm_sandbox: Sandbox) -> Iterator[Dispatcher]:
    with MultiMailClient(api_key=mm_sandbox.keys["send"], base_url=mm_sandbox.multimail_url) as mm:
        yield Dispatcher(mm, mailbox_id=mm_sandbox.mailbox_id, audit=None)


async def test_async_retry_after_a_crash_attaches_to_the_run_that_has_the_messages(
    mm_sandbox: Sandbox, adispatcher: AsyncDispatcher
) -> None:
    mm_sandbox.openai.update(model_latency=0.4)
    thread, asst = new_thread(mm_sandbox), assistant(mm_sandbox)
    first_wire, second_wire = Wire(), Wire()
    first_wire.crash_after_create = True
    async with async_client(mm_sandbox, first_wire) as first_client:
        with pytest.raises(Crash):
            await AsyncAssistantsRunDriver(first_client, adispatcher).run_messages(
                thread, asst, [M1, M2]
            )
    async with async_client(mm_sandbox, second_wire) as second_client:
        second = AsyncAssistantsRunDriver(second_client, adispatcher, mode="stream")
        outcome = await second.run_messages(thread, asst, [M1, M2])
    [run] = runs_of(mm_sandbox, thread)
    assert (outcome.status, outcome.run_id, outcome.text) == ("completed", run.id, "Hello")
    assert second_wire.creates() == []
    assert message_keys(mm_sandbox, thread) == ["em_1", "em_2"]


async def test_async_second_start_drives_the_active_run_then_its_own(
    mm_sandbox: Sandbox, adispatcher: AsyncDispatcher
) -> None:
    thread, asks = new_thread(mm_sandbox), assistant(mm_sandbox, "ask")
    other = start_run(mm_sandbox, thread, asks)  # waits at requires_action
    wire = Wire()
    async with async_client(mm_sandbox, wire) as openai_client:
        driver = AsyncAssistantsRunDriver(openai_client, adispatcher)
        outcome = await driver.run_messages(thread, asks, [M1])
    first, second = runs_of(mm_sandbox, thread)
    assert (first.id, first.status) == (other, "completed")
    assert (outcome.status, outcome.run_id, outcome.text) == ("completed", second.id, "Read it")
    assert message_keys(mm_sandbox, thread) == ["em_1"]  # posted once, with the second run
    assert len(wire.creates()) == 2


def _email(sandbox: Sandbox) -> Any:
    return sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject="Hi", markdown="Hello there"
    )


def test_router_a_worker_that_died_after_the_create_leaves_its_mail_once(
    mm_sandbox: Sandbox, dispatcher: Dispatcher
) -> None:
    mm_sandbox.openai.update(model_latency=0.3)
    asst, routes, email = assistant(mm_sandbox), MemoryRouteStore(), _email(mm_sandbox)
    first_wire, second_wire = Wire(), Wire()
    first_wire.crash_after_create = True
    with client(mm_sandbox, first_wire) as first_client:
        driver = AssistantsRunDriver(first_client, dispatcher)
        first = InboundRouter(
            first_client, dispatcher, assistant_id=asst, driver=driver, store=routes
        )
        with pytest.raises(Crash):
            first.route(received(email))
    assert routes.stalled() == [email["thread_id"]]  # the mail went back to the queue
    with client(mm_sandbox, second_wire) as second_client:
        driver = AssistantsRunDriver(second_client, dispatcher)
        second = InboundRouter(
            second_client, dispatcher, assistant_id=asst, driver=driver, store=routes
        )
        assert second.drain() == 1
    thread = routes.target(email["thread_id"])
    assert thread is not None
    [run] = runs_of(mm_sandbox, thread)
    assert run.status == "completed"
    assert second_wire.creates() == []  # it drove the first worker's run
    assert first_wire.posts() == second_wire.posts() == 0
    assert message_keys(mm_sandbox, thread) == [email["id"]]
    assert len(user_texts(mm_sandbox, thread)) == 1
    assert routes.stalled() == []


async def test_async_router_a_worker_that_died_after_the_create_leaves_its_mail_once(
    mm_sandbox: Sandbox, adispatcher: AsyncDispatcher
) -> None:
    asst, routes, email = assistant(mm_sandbox), MemoryRouteStore(), _email(mm_sandbox)
    first_wire, second_wire = Wire(), Wire()
    first_wire.crash_after_create = True
    async with async_client(mm_sandbox, first_wire) as first_client:
        driver = AsyncAssistantsRunDriver(first_client, adispatcher)
        first = AsyncInboundRouter(
            first_client, adispatcher, assistant_id=asst, driver=driver, store=routes
        )
        with pytest.raises(Crash):
            await first.route(received(email))
    async with async_client(mm_sandbox, second_wire) as second_client:
        driver = AsyncAssistantsRunDriver(second_client, adispatcher)
        second = AsyncInboundRouter(
            second_client, adispatcher, assistant_id=asst, driver=driver, store=routes
        )
        assert await second.drain() == 1
    thread = routes.target(email["thread_id"])
    assert thread is not None
    [run] = runs_of(mm_sandbox, thread)  # the run had ended: it was not run again
    assert run.status == "completed"
    assert second_wire.creates() == []
    assert message_keys(mm_sandbox, thread) == [email["id"]]
    assert routes.stalled() == []
