"""``mm-assistants run`` and ``mm-assistants assistant create``: real endpoints.

Both read ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` and ``MULTIMAIL_API_KEY``/
``MULTIMAIL_API_URL`` (and ``MULTIMAIL_MAILBOX_ID`` for the default mailbox) from the
environment, like the SDKs do.

``run`` limits the model to the mailbox it is given (``--mailbox-id`` or
``MULTIMAIL_MAILBOX_ID``); ``--any-mailbox`` widens that to every mailbox the key reaches.
With no mailbox at all the model may use any mailbox, and ``run`` says so on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from mm_assistants.review.untrusted import printable
from mm_assistants.tools import PROFILE_NAMES


def register(subparsers: Any) -> None:
    """Add ``run`` and ``assistant create``."""
    run = subparsers.add_parser("run", help="drive a run of an existing assistant")
    run.add_argument("--assistant", required=True, help="the assistant id")
    target = run.add_mutually_exclusive_group(required=True)
    target.add_argument("--thread", help="run on this existing thread")
    target.add_argument("--message", help="start a new thread with this user message")
    run.add_argument("--mode", choices=("poll", "stream"), default="poll")
    run.add_argument(
        "--mailbox-id",
        default=os.environ.get("MULTIMAIL_MAILBOX_ID"),
        help="the default mailbox, and the only one the model may use",
    )
    run.add_argument(
        "--any-mailbox",
        action="store_true",
        help="let the model use every mailbox the API key reaches",
    )
    run.add_argument("--profile", choices=PROFILE_NAMES, default="agent")
    run.add_argument("--max-wait", type=float, default=540.0, help="approval wait, seconds")
    run.add_argument("--json", action="store_true", help="print the outcome as JSON")
    run.set_defaults(handler=_run)

    assistant = subparsers.add_parser("assistant", help="manage assistants")
    commands = assistant.add_subparsers(
        dest="assistant_command", metavar="SUBCOMMAND", required=True
    )
    create = commands.add_parser("create", help="create an assistant from the bundled schemas")
    create.add_argument("--model", required=True)
    create.add_argument("--profile", choices=PROFILE_NAMES, default="agent")
    create.add_argument("--name", default="MultiMail assistant")
    create.add_argument("--mailbox-id", default=os.environ.get("MULTIMAIL_MAILBOX_ID"))
    create.add_argument("--instructions", default=None)
    create.set_defaults(handler=_create)


def _openai() -> Any:
    from openai import OpenAI

    return OpenAI()


def _create(args: argparse.Namespace) -> int:
    from mm_assistants.openai_setup import create_assistant

    assistant = create_assistant(
        _openai(),
        model=args.model,
        name=args.name,
        profile=args.profile,
        mailbox_id=args.mailbox_id,
        instructions=args.instructions,
    )
    print(assistant.id)
    return 0


def _run(args: argparse.Namespace) -> int:
    from mm_assistants import (
        ANY_MAILBOX,
        ApprovalPolicy,
        AssistantsRunDriver,
        Dispatcher,
        MultiMailClient,
    )

    if not args.mailbox_id and not args.any_mailbox:
        # An unscoped run is allowed (a key for one mailbox needs no more), but never silent.
        print(
            "warning: no --mailbox-id (or MULTIMAIL_MAILBOX_ID): the model may use every "
            "mailbox the API key reaches; pass --any-mailbox to mean it",
            file=sys.stderr,
        )
    with MultiMailClient() as client:
        dispatcher = Dispatcher(
            client,
            profile=args.profile,
            mailbox_id=args.mailbox_id or None,
            allowed_mailboxes=ANY_MAILBOX if args.any_mailbox else None,
        )
        driver = AssistantsRunDriver(
            _openai(), dispatcher, mode=args.mode, approvals=ApprovalPolicy(max_wait=args.max_wait)
        )
        if args.thread:
            outcome = driver.run(args.thread, args.assistant)
        else:
            outcome = driver.create_thread_and_run(args.assistant, [args.message])
    if args.json:
        print(json.dumps(outcome.as_dict(), indent=2))
    else:
        for result in outcome.tool_results:
            mark = "ok " if result.ok else "ERR"
            # names, ids and text come from the model: shown, never obeyed, by the terminal
            print(printable(f"  {mark} {result.name} ({result.call_id})"))
        print(printable(f"status: {outcome.status}  requests: {outcome.openai_requests}"))
        if outcome.text:
            print(printable(outcome.text, multiline=True))
    return 0 if outcome.status == "completed" else 1
