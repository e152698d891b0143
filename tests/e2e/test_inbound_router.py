"""`InboundRouter` / `AsyncInboundRouter` on the sandbox: inbound email becomes runs on the
OpenAI thread of its MultiMail thread, with the thread lock, the trust gate and duplicate
deliveries handled."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mm_assistants._sunset import call_assistants
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.drivers import AssistantsRunDriver, RunOutcome
from mm_assistants.inbound import AsyncInboundRouter, InboundRouter, SQLiteRouteStore
from mm_assistants.sandbox import Sandbox
from mm_assistants.state import backoff
from tests.e2e.conftest import FAST_APPROVALS, requests_to, thread_texts, wait_until_held
from tests.e2e.inbound import options, received

CREATE_RUN = "POST /threads/{thread_id}/runs"


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return options()


@pytest.fixture
def assistant(assistant_for: Any) -> str:
    return str(assistant_for("triage"))


def make_router(
    openai_client: Any, dispatcher: Any, assistant: str, **options: Any
) -> InboundRouter:
    driver = AssistantsRunDriver(openai_client, dispatcher, approvals=FAST_APPROVALS)
    return InboundRouter(
        openai_client, dispatcher, assistant_id=assistant, driver=driver, **options
    )


def email_from(sandbox: Sandbox, subject: str, **fields: Any) -> dict[str, Any]:
    return sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject=subject, markdown="Hello there", **fields
    )


def tags_of(sandbox: Sandbox, email_id: str) -> dict[str, str]:
    response = httpx.get(
        f"{sandbox.multimail_url}/v1/mailboxes/{sandbox.mailbox_id}/emails/{email_id}/tags",
        headers={"Authorization": f"Bearer {sandbox.keys['read']}"},
        timeout=5,
    )
    tags: dict[str, str] = response.json()["tags"]
    return tags


def test_an_inbound_email_starts_a_run_on_a_new_thread(
    sandbox: Sandbox, openai_client: openai.OpenAI, dispatcher: Dispatcher, assistant: str
) -> None:
    email = email_from(sandbox, "Can we meet?")
    router = make_router(openai_client, dispatcher, assistant)
    result = router.route(received(email))
    assert (result.action, result.email_id, result.mm_thread_id) == (
        "started",
        email["id"],
        email["thread_id"],
    )
    [outcome] = result.outcomes
    assert outcome.status == "completed"
    assert outcome.text == f"Handled {email['id']}"
    assert [r.name for r in outcome.tool_results] == ["read_email"]
    thread = call_assistants(openai_client.beta.threads.retrieve, outcome.thread_id)
    assert thread.metadata["multimail_thread_id"] == email["thread_id"]
    notice = thread_texts(openai_client, outcome.thread_id or "")[0]
    assert f"email_id: {email['id']}" in notice
    assert "untrusted" in notice
    assert "Hello there" not in notice  # the body is read through read_email, framed


def test_a_reply_in_the_same_thread_continues_the_same_openai_thread(
    sandbox: Sandbox, openai_client: openai.OpenAI, dispatcher: Dispatcher, assistant: str
) -> None:
    router = make_router(openai_client, dispatcher, assistant)
    first = email_from(sandbox, "Question one")
    second = email_from(sandbox, "Question two", in_reply_to=first["id"])
    other = email_from(sandbox, "Unrelated")
    assert second["thread_id"] == first["thread_id"]
    one = router.route(received(first)).outcomes[0]
    two = router.route(received(second)).outcomes[0]
    three = router.route(received(other)).outcomes[0]
    assert one.thread_id == two.thread_id != three.thread_id
    texts = thread_texts(openai_client, one.thread_id or "")
    assert [t for t in texts if t.startswith("Handled")] == [
        f"Handled {first['id']}",
        f"Handled {second['id']}",
    ]


def test_a_duplicate_delivery_starts_one_run(
    sandbox: Sandbox, openai_client: openai.OpenAI, dispatcher: Dispatcher, assistant: str
) -> None:
    router = make_router(openai_client, dispatcher, assistant)
    email = email_from(sandbox, "Once only")
    assert router.route(received(email)).action == "started"
    # MultiMail retries a delivery it thinks failed, under a new event id.
    assert router.route(received(email, note="retry")).action == "duplicate"
    assert requests_to(sandbox, CREATE_RUN) == 1


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        pytest.param({"spam_verdict": "flagged"}, "spam verdict is flagged", id="flagged"),
        pytest.param(
            {"spam_verdict": "quarantined"}, "spam verdict is quarantined", id="quarantined"
        ),
        pytest.param({"dkim": "fail", "dmarc": "fail"}, "DKIM fail; DMARC fail", id="auth"),
        pytest.param({"spf": "neutral"}, "SPF neutral", id="auth-not-pass"),
        pytest.param({"dmarc": ""}, "no DMARC result", id="auth-missing"),
    ],
)
def test_the_trust_gate_holds_an_email_for_a_person(
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    dispatcher: Dispatcher,
    assistant: str,
    fields: dict[str, str],
    reason: str,
) -> None:
    router = make_router(openai_client, dispatcher, assistant)
    email = email_from(sandbox, "Claim your prize", **fields)
    # The event carries no verdicts: the router reads the email to judge it.
    result = router.route(received(email, verdicts=False))
    assert (result.action, result.reason) == ("held", reason)
    assert tags_of(sandbox, email["id"]) == {"needs-human": "true", "needs-human-reason": reason}
    assert requests_to(sandbox, CREATE_RUN) == 0
    assert router.route(received(email)).action == "duplicate"


def test_other_events_and_outbound_mail_are_ignored(
    sandbox: Sandbox, openai_client: openai.OpenAI, dispatcher: Dispatcher, assistant: str
) -> None:
    router = make_router(openai_client, dispatcher, assistant)
    email = email_from(sandbox, "Hi")
    assert router.route(received(email, direction="outbound")).action == "ignored"
    sent = received(email).__class__(type="message.sent", email_id=email["id"])
    assert router.route(sent).reason == "message.sent is not an inbound message"
    assert requests_to(sandbox, CREATE_RUN) == 0


def test_mail_of_a_mailbox_outside_the_dispatchers_scope_is_ignored(
    sandbox: Sandbox, openai_client: openai.OpenAI, dispatcher: Dispatcher, assistant: str
) -> None:
    scoped = Dispatcher(
        dispatcher.client,
        registry=dispatcher.registry,
        mailbox_id=sandbox.mailbox_id,
        allowed_mailboxes=[sandbox.mailbox_id],
        audit=None,
    )
    router = make_router(openai_client, scoped, assistant)
    email = email_from(sandbox, "Hi")
    result = router.route(received(email, mailbox_id="mbx_elsewhere"))
    assert result.action == "ignored"
    assert "mbx_elsewhere" in (result.reason or "")


def test_mail_arriving_during_a_run_is_queued_and_answered_after_it(
    sandbox: Sandbox, openai_client: openai.OpenAI, dispatcher: Dispatcher, assistant: str
) -> None:
    outcomes: list[RunOutcome] = []
    router = make_router(
        openai_client,
        dispatcher,
        assistant,
        background=True,
        on_outcome=lambda thread, outcome: outcomes.append(outcome),
    )
    first = email_from(sandbox, "Please reply today")
    with router:
        assert router.route(received(first)).action == "started"
        held = wait_until_held(sandbox)  # the run waits for a person to approve its reply
        second = email_from(sandbox, "One more thing", in_reply_to=first["id"])
        result = router.route(received(second))
        assert (result.action, result.reason) == ("queued", "the thread's run is active")
        sandbox.multimail.decide(held["id"], "approve")
        assert router.join(timeout=20)
    assert [o.status for o in outcomes] == ["completed", "completed"]
    assert outcomes[0].approvals[0].decision == "approved"
    assert outcomes[0].thread_id == outcomes[1].thread_id
    texts = thread_texts(openai_client, outcomes[0].thread_id or "")
    handled = [t for t in texts if t.startswith("Handled")]
    assert handled == [f"Handled {first['id']}", f"Handled {second['id']}"]
    # The queued notice was posted only after the first run's answer.
    assert texts.index(handled[0]) < next(i for i, t in enumerate(texts) if second["id"] in t)


def test_a_failed_start_keeps_the_message_and_drain_runs_it_later(
    sandbox: Sandbox,
    dispatcher: Dispatcher,
    assistant: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backoff, "BACKOFF_BASE", 0.2)  # the first retry waits 0.2 s
    store = SQLiteRouteStore(tmp_path / "routes.db", lease=60)
    email = email_from(sandbox, "Are you there?")
    with openai.OpenAI(api_key="sk-x", base_url="http://127.0.0.1:9/v1", max_retries=0) as down:
        broken = make_router(down, dispatcher, assistant, store=store)
        with pytest.raises(openai.APIConnectionError):
            broken.route(received(email))
    assert store.stalled() == []  # not before its backoff ran out
    time.sleep(0.3)
    assert store.stalled() == [email["thread_id"]]
    with openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0) as up:
        router = make_router(up, dispatcher, assistant, store=SQLiteRouteStore(store.path))
        assert router.route(received(email)).action == "duplicate"  # no second copy
        assert router.drain() == 1
    assert requests_to(sandbox, CREATE_RUN) == 1
    assert store.stalled() == []


def test_responses_chain_continues_per_thread(
    sandbox: Sandbox, openai_client: openai.OpenAI, dispatcher: Dispatcher
) -> None:
    router = InboundRouter(
        openai_client, dispatcher, model="scripted:triage", instructions="Be brief."
    )
    first = email_from(sandbox, "Hello")
    second = email_from(sandbox, "Again", in_reply_to=first["id"])
    one = router.route(received(first)).outcomes[0]
    assert one.status == "completed"
    assert router.store.target(first["thread_id"]) == one.run_id
    two = router.route(received(second)).outcomes[0]
    assert two.text == f"Handled {second['id']}"
    assert router.store.target(first["thread_id"]) == two.run_id != one.run_id


def test_construction_needs_exactly_one_api(
    openai_client: openai.OpenAI, dispatcher: Dispatcher
) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        InboundRouter(openai_client, dispatcher)
    with pytest.raises(ValueError, match="exactly one"):
        InboundRouter(openai_client, dispatcher, assistant_id="asst_1", model="gpt-4.1")


async def test_async_router_queues_and_drives_in_tasks(
    sandbox: Sandbox,
    async_openai_client: openai.AsyncOpenAI,
    async_dispatcher: AsyncDispatcher,
    assistant: str,
) -> None:
    outcomes: list[RunOutcome] = []
    router = AsyncInboundRouter(
        async_openai_client,
        async_dispatcher,
        assistant_id=assistant,
        background=True,
        on_outcome=lambda thread, outcome: outcomes.append(outcome),
    )
    router.driver.approvals = ApprovalPolicy(
        max_wait=10, margin=1, first_delay=0.05, max_interval=0.2
    )
    first = email_from(sandbox, "Please reply soon")
    async with router:
        assert (await router.route(received(first))).action == "started"
        assert (await router.route(received(first))).action == "duplicate"
        held = await _held(sandbox)
        second = email_from(sandbox, "Also", in_reply_to=first["id"])
        assert (await router.route(received(second))).action == "queued"
        sandbox.multimail.decide(held["id"], "approve")
    assert [o.status for o in outcomes] == ["completed", "completed"]
    assert outcomes[1].text == f"Handled {second['id']}"


async def _held(sandbox: Sandbox) -> dict[str, Any]:
    result: dict[str, Any] = {}
    done = threading.Event()

    def look() -> None:
        result.update(wait_until_held(sandbox))
        done.set()

    threading.Thread(target=look, daemon=True).start()
    while not done.is_set():
        await asyncio.sleep(0.02)
    return result
