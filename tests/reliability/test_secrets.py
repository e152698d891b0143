"""Secrets stay secret: the demos and a slice of the other suites run with DEBUG logging
captured (the root logger and httpx, httpcore, openai, the library's own), and a check
searches every log line, everything written to stdout and stderr, every tool output, the
text of every exception and the ``repr`` of every client, dispatcher, driver, receiver,
store, hub and sandbox made meanwhile for the sandbox's API keys and the webhook signing
secrets: zero hits.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import secrets as random_secrets
import traceback
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mm_assistants
from mm_assistants import (
    ApprovalPolicy,
    AssistantsRunDriver,
    Dispatcher,
    MultiMailClient,
    MultiMailError,
    RetryPolicy,
    SQLitePendingStore,
    create_assistant,
    inbound,
    webhooks,
)
from mm_assistants.cli.demo import run_demo
from mm_assistants.cli.demo_story import DemoOptions
from mm_assistants.cli.demo_webhooks import run_webhook_demo
from mm_assistants.sandbox import Sandbox
from mm_assistants.sandbox.serving import LoopbackServer
from tests.reliability.campaign import Campaign
from tests.reliability.fuzzing import (
    SETUPS,
    Ledger,
    as_tool_calls,
    call_batches,
    check_batch,
    sync_dispatcher,
)
from tests.reliability.support import (
    FULL,
    PLAN_MODEL,
    SEND_ROUTE,
    Approver,
    fast_sandbox,
    openai_client,
    plan_message,
    register_plan_script,
)

LOGGERS = ("", "httpx", "httpcore", "httpx2", "httpcore2", "openai", "mm_assistants", "uvicorn")
#: Classes whose every instance made during a test has its repr and str searched.
WATCHED_CLASSES: tuple[type, ...] = (
    mm_assistants.MultiMailClient,
    mm_assistants.AsyncMultiMailClient,
    mm_assistants.Dispatcher,
    mm_assistants.AsyncDispatcher,
    mm_assistants.AssistantsRunDriver,
    mm_assistants.AsyncAssistantsRunDriver,
    mm_assistants.ResponsesDriver,
    mm_assistants.AsyncResponsesDriver,
    mm_assistants.ApprovalHub,
    mm_assistants.MemoryPendingStore,
    mm_assistants.SQLitePendingStore,
    webhooks.WebhookReceiver,
    webhooks.AsyncWebhookReceiver,
    inbound.InboundRouter,
    inbound.AsyncInboundRouter,
    inbound.MemoryRouteStore,
    inbound.SQLiteRouteStore,
    webhooks.ReplayGuard,
    Sandbox,
    LoopbackServer,
)
QUICK_DEMO = {"decide_after": 0.1, "model_latency": 0.0}


class SecretWatch:
    """Learns the secrets as they are made (a sandbox's keys when it starts, a receiver's
    signing secrets when it is built), keeps every object of `WATCHED_CLASSES` made, and
    searches all the text a test produced."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]):
        self.caplog = caplog
        self.capfd = capfd
        self.secrets: set[str] = set()
        self.texts: list[tuple[str, str]] = []
        self.objects: list[Any] = []

    def learn(self, secret: str) -> None:
        self.secrets.add(secret)

    def see(self, where: str, text: Any) -> None:
        self.texts.append((where, text if isinstance(text, str) else str(text)))

    def see_exception(self, where: str, error: BaseException) -> None:
        self.see(f"{where}: str", str(error))
        self.see(f"{where}: repr", repr(error))
        self.see(f"{where}: traceback", "".join(traceback.format_exception(error)))

    def all_texts(self) -> Iterator[tuple[str, str]]:
        yield from self.texts
        for record in self.caplog.records:
            yield f"log {record.name}:{record.levelname}", record.getMessage()
        yield "log output", self.caplog.text  # formatted, tracebacks included
        out, err = self.capfd.readouterr()
        yield "stdout", out
        yield "stderr", err
        for obj in self.objects:
            yield f"repr of {type(obj).__name__}", repr(obj)
            yield f"str of {type(obj).__name__}", str(obj)

    def assert_clean(self) -> None:
        assert self.secrets, "no secret was learnt: the check would see nothing"
        searched = list(self.all_texts())
        hits = sorted({where for where, text in searched for s in self.secrets if s in text})
        assert hits == [], f"a secret appeared in: {hits}"
        names = {r.name for r in self.caplog.records}
        assert "httpx" in names, "HTTP requests were not logged"
        assert "mm_assistants.multimail" in names, "the client's DEBUG lines were not logged"
        assert len(searched) > 100, "too little was searched to mean anything"


@pytest.fixture
def watch(
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> SecretWatch:
    watch = SecretWatch(caplog, capfd)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    for cls in WATCHED_CLASSES:
        _keep_instances(monkeypatch, cls, watch)

    started = Sandbox.start

    def start(self: Sandbox) -> Sandbox:
        running = started(self)
        for key in self.keys.values():
            watch.learn(key)
        watch.learn(self.app.multimail.seed.second_tenant_key)
        watch.objects.extend([self.app, self.app.multimail.seed, self.clock])
        return running

    monkeypatch.setattr(Sandbox, "start", start)
    built = webhooks.WebhookReceiver.__init__

    def receiver(self: Any, secrets: Any, *args: Any, **kwargs: Any) -> None:
        for secret in [secrets] if isinstance(secrets, (str, bytes)) else secrets:
            watch.learn(secret.decode() if isinstance(secret, bytes) else secret)
        built(self, secrets, *args, **kwargs)

    monkeypatch.setattr(webhooks.WebhookReceiver, "__init__", receiver)
    return watch


def _keep_instances(monkeypatch: pytest.MonkeyPatch, cls: type, watch: SecretWatch) -> None:
    original = cls.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not any(obj is self for obj in watch.objects):
            watch.objects.append(self)

    monkeypatch.setattr(cls, "__init__", init)


def see_outcome(watch: SecretWatch, where: str, outcome: Any) -> None:
    watch.see(f"{where}: outcome", json.dumps(outcome.as_dict(), default=str))
    watch.see(f"{where}: outcome repr", repr(outcome))
    for result in outcome.tool_results:
        watch.see(f"{where}: {result.name} output", result.output)
        watch.see(f"{where}: {result.name} repr", repr(result))


# -- the demos ----------------------------------------------------------------------------------


DEMOS = [
    pytest.param("assistants", "poll", id="assistants-poll"),
    pytest.param("assistants", "stream", id="assistants-stream"),
    pytest.param("responses", "poll", id="responses"),
]


@pytest.mark.parametrize(("api", "mode"), DEMOS if FULL else DEMOS[:1])
def test_the_demo_shows_no_api_key_anywhere(watch: SecretWatch, api: str, mode: str) -> None:
    out = io.StringIO()
    outcome = run_demo(DemoOptions(api=api, mode=mode, **QUICK_DEMO), out)

    assert outcome.status == "completed"
    watch.see("transcript", out.getvalue())
    see_outcome(watch, "demo", outcome)
    watch.assert_clean()


def test_the_webhook_demo_shows_no_api_key_or_signing_secret_anywhere(watch: SecretWatch) -> None:
    out = io.StringIO()
    outcome = run_webhook_demo(DemoOptions(webhooks=True, **QUICK_DEMO), out)

    assert outcome.status == "completed"
    assert any(s.startswith("whsec_") for s in watch.secrets), "no signing secret was learnt"
    watch.see("transcript", out.getvalue())
    see_outcome(watch, "webhook demo", outcome)
    watch.assert_clean()


# -- a slice of the other suites ---------------------------------------------------------------


def test_faulted_runs_late_decisions_errors_and_webhooks_show_no_secret(
    watch: SecretWatch, tmp_path: Path
) -> None:
    with Campaign.open(seed=3) as campaign, Approver(campaign.sandbox) as approver:
        campaign.plan(12, "secret")
        asyncio.run(campaign.drive_async(approver))
    for run in campaign.runs:
        see_outcome(watch, f"run {run.tag}", run.outcome)

    with fast_sandbox() as sandbox:
        late_decision(watch, sandbox, tmp_path / "pending.db")
        api_errors(watch, sandbox)
    webhook_deliveries(watch)
    watch.assert_clean()


def late_decision(watch: SecretWatch, sandbox: Sandbox, path: Path) -> None:
    """A send still held when its wait ends, decided later and posted to its thread."""
    register_plan_script(sandbox)
    send = {"to": ["bob@example.com"], "subject": "Later", "markdown": "Hi"}
    store = SQLitePendingStore(path)
    with (
        openai_client(sandbox) as ai,
        MultiMailClient(api_key=sandbox.keys["send"], base_url=sandbox.multimail_url) as client,
    ):
        assistant = create_assistant(ai, model=PLAN_MODEL, mailbox_id=sandbox.mailbox_id)
        dispatcher = Dispatcher(client, mailbox_id=sandbox.mailbox_id, approval_store=store)
        short = ApprovalPolicy(max_wait=0.2, margin=0, first_delay=0.05, max_interval=0.05)
        driver = AssistantsRunDriver(ai, dispatcher, approvals=short)
        outcome = driver.create_thread_and_run(
            str(assistant.id), [plan_message([[("send_email", send)]])]
        )
        [record] = store.all()
        watch.see("pending record", repr(record))
        sandbox.multimail.decide(record.email_id, "reject", "Not today.")
        [late] = driver.resolve_pending()
    store.close()
    assert late.decision == "rejected"
    see_outcome(watch, "late decision", outcome)
    watch.see("late outcome", repr(late))


def api_errors(watch: SecretWatch, sandbox: Sandbox) -> None:
    """Errors a caller sees: a key without the scope, an unknown key, a dropped unkeyed
    write whose outcome is unknown."""
    send_path = f"/v1/mailboxes/{sandbox.mailbox_id}/send"
    body = {"to": ["bob@example.com"], "subject": "Err", "markdown": "x"}
    wrong_key = "mm_live_" + random_secrets.token_hex(16)
    watch.learn(wrong_key)
    sandbox.faults.add(SEND_ROUTE, commit_then_drop=True, next_n=1)
    attempts = [
        (sandbox.keys["send"], "dropped unkeyed send"),  # dropped: the outcome is unknown
        (sandbox.keys["read"], "send with a read key"),
        (wrong_key, "unknown key"),
    ]
    for key, where in attempts:
        with MultiMailClient(
            api_key=key, base_url=sandbox.multimail_url, retry=RetryPolicy.none()
        ) as client:
            with pytest.raises(MultiMailError) as raised:
                client.request("POST", send_path, json=body)
            watch.see_exception(where, raised.value)
            result = Dispatcher(client, mailbox_id=sandbox.mailbox_id).dispatch(
                mm_assistants.ToolCall("call_err", "send_email", json.dumps(body))
            )
            watch.see(f"{where}: tool output", result.output)


def webhook_deliveries(watch: SecretWatch) -> None:
    """A signed delivery accepted and handled; a forged one and a replay refused."""
    secret = "whsec_" + random_secrets.token_hex(24)
    receiver = webhooks.WebhookReceiver(secret, hub=mm_assistants.ApprovalHub())
    body = json.dumps(
        {
            "id": "evt_1",
            "event": "oversight.approved",
            "timestamp": datetime.now(timezone.utc).isoformat(),  # signed freshness
            "data": {"email_id": "em_1"},
        }
    ).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {webhooks.SIGNATURE_HEADER: signature, webhooks.DELIVERY_HEADER: "dlv_1"}
    handled = receiver.handle(receiver.accept(body, headers))
    watch.see("handled event", repr(handled))
    forged = {webhooks.SIGNATURE_HEADER: "sha256=" + "0" * 64}
    for where, seen in (("forged delivery", forged), ("replayed delivery", headers)):
        with pytest.raises(Exception) as raised:
            receiver.accept(body, seen)
        watch.see_exception(where, raised.value)


def test_fuzzed_calls_with_a_real_key_show_it_nowhere(watch: SecretWatch) -> None:
    with fast_sandbox() as sandbox:  # only for a real key: the calls go to a mock transport
        key = sandbox.keys["send"]

    @settings(max_examples=60, deadline=None, database=None)
    @given(batch=call_batches, setup=st.sampled_from(SETUPS))
    def fuzz(batch: list[tuple[str, str]], setup: dict[str, Any]) -> None:
        ledger = Ledger()
        dispatcher = sync_dispatcher(ledger, setup, api_key=key)
        calls = as_tool_calls(batch)
        results = [dispatcher.dispatch(call) for call in calls]
        check_batch(calls, results, ledger)
        for result in results:
            watch.see(f"fuzzed {result.name!r} output", result.output)

    fuzz()
    watch.assert_clean()
