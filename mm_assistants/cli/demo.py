"""``mm-assistants demo``: the whole story offline, on the embedded sandbox.

A customer's email arrives in a ``gated_send`` mailbox; an assistant made from the bundled
``agent`` schemas checks the inbox, reads the email and replies; the reply is held for a
human; a reviewer approves or rejects it; the assistant reports how it ended. The driver
runs in a worker thread while this thread plays the reviewer, so the wait is visible live.
The story itself (who writes, what the user asks) is `mm_assistants.cli.demo_story`; the
command line is `mm_assistants.cli.demo_cmd`.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import Any, TextIO

from mm_assistants._sunset import AssistantsSunsetWarning
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.cli.console import Console
from mm_assistants.cli.demo_reviewer import Reviewer
from mm_assistants.cli.demo_story import (
    BODY,
    MODEL,
    REVIEW_TICK,
    SENDER,
    SUBJECT,
    USER_REQUEST,
    DemoOptions,
    NarratedDispatcher,
    decider_for,
    introduce_review_page,
    summarise,
)
from mm_assistants.cli.demo_stream import StreamPrinter
from mm_assistants.dispatch import Dispatcher
from mm_assistants.drivers import AssistantsRunDriver, ResponsesDriver, RunOutcome
from mm_assistants.drivers.assistants_core import Mode
from mm_assistants.multimail import MultiMailClient
from mm_assistants.openai_setup import create_assistant
from mm_assistants.tools import load_registry

#: Characters per streamed text piece in ``--api responses --mode stream``.
STREAM_CHUNK_CHARS = 12


def streams_text(options: DemoOptions) -> bool:
    """Whether the model's words are shown as they arrive (the streamed Responses driver)."""
    return options.api == "responses" and options.mode == "stream"


def run_demo(options: DemoOptions, out: TextIO, *, ask: Any = input) -> RunOutcome:
    """Play the story and return the run's outcome (the transcript goes to ``out``)."""
    from mm_assistants.sandbox import OpenAIEmulatorSettings, Sandbox

    started = time.monotonic()
    console = Console(out, live=out.isatty())
    settings = OpenAIEmulatorSettings(
        model_latency=options.model_latency,
        run_expiry_seconds=600,
        # small pieces, so the streamed words visibly arrive a few at a time
        text_chunk_chars=STREAM_CHUNK_CHARS if streams_text(options) else 40,
    )
    with Sandbox(openai_settings=settings) as sandbox:
        inbound = sandbox.multimail.inject_inbound(sender=SENDER, subject=SUBJECT, markdown=BODY)
        console.line("mm-assistants demo · offline, on the embedded sandbox")
        console.line(f"  sandbox    {sandbox.base_url} (MultiMail API + OpenAI emulator)")
        introduce_review_page(console, sandbox.base_url, options)
        console.line(f"  mailbox    {sandbox.mailbox_id} (oversight: gated_send)")
        console.line(f"  inbound    {SENDER}: {SUBJECT!r} ({inbound['id']})")
        with (
            MultiMailClient(
                api_key=sandbox.keys["send"], base_url=sandbox.multimail_url
            ) as agent_client,
            MultiMailClient(
                api_key=sandbox.keys["oversight"], base_url=sandbox.multimail_url
            ) as reviewer_client,
        ):
            dispatcher = NarratedDispatcher(
                agent_client,
                console,
                registry=load_registry(options.schema_version),
                mailbox_id=sandbox.mailbox_id,
                audit=None,
            )
            policy = ApprovalPolicy(max_wait=options.max_wait, first_delay=0.25, max_interval=1.0)
            decider = decider_for(options, console, ask)
            run_started = time.time()
            reviewer = Reviewer(
                reviewer_client,
                decider,
                console,
                deadline_of=lambda seen: policy.deadline(
                    seen, run_started + settings.run_expiry_seconds
                ),
            )
            try:
                outcome = _drive(options, sandbox, dispatcher, policy, console, reviewer)
            except KeyboardInterrupt:
                console.mute()  # the run's thread may still narrate: not any more
                raise
    summarise(console, outcome, time.monotonic() - started, text_shown=streams_text(options))
    return outcome


def _drive(
    options: DemoOptions,
    sandbox: Any,
    dispatcher: Dispatcher,
    policy: ApprovalPolicy,
    console: Console,
    reviewer: Reviewer,
) -> RunOutcome:
    import openai

    client = openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["outcome"] = _one_run(options, client, dispatcher, policy, console, sandbox)
        except BaseException as exc:  # noqa: BLE001 -- handed to the main thread, which re-raises it
            box["error"] = exc

    worker = threading.Thread(target=work, name="mm-demo-run", daemon=True)
    worker.start()
    while worker.is_alive():
        reviewer.tick()
        worker.join(REVIEW_TICK)
    console.clear_status()
    client.close()
    if "error" in box:
        raise box["error"]
    outcome: RunOutcome = box["outcome"]
    return outcome


def _one_run(
    options: DemoOptions,
    client: Any,
    dispatcher: Dispatcher,
    policy: ApprovalPolicy,
    console: Console,
    sandbox: Any,
) -> RunOutcome:
    console.line()
    console.line(f"  user ▸ {USER_REQUEST}")
    if options.api == "responses":
        streaming = streams_text(options)
        console.line("  (Responses API, streamed)" if streaming else "  (Responses API)")
        responses_driver = ResponsesDriver(
            client,
            dispatcher,
            approvals=policy,
            stream=streaming,
            on_event=StreamPrinter(console) if streaming else None,
        )
        return responses_driver.run(USER_REQUEST, model=MODEL)
    with warnings.catch_warnings():
        # the transcript says which API this is; the sandbox serves it on purpose
        warnings.simplefilter("ignore", AssistantsSunsetWarning)
        assistant = create_assistant(
            client,
            model=MODEL,
            name="Inbox assistant",
            mailbox_id=sandbox.mailbox_id,
            version=options.schema_version,
        )
    console.line(
        f"  (Assistants API, {options.mode} mode; assistant {assistant.id} with "
        f"{len(assistant.tools)} tools from the bundled {options.schema_version} 'agent' schemas)"
    )
    mode: Mode = "stream" if options.mode == "stream" else "poll"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AssistantsSunsetWarning)
        driver = AssistantsRunDriver(client, dispatcher, mode=mode, approvals=policy)
    return driver.create_thread_and_run(assistant.id, [USER_REQUEST])
