"""``mm-assistants approvals``: the oversight queue at the terminal, for the person who
approves what a ``gated_send`` mailbox holds.

::

    mm-assistants approvals list [--json]
    mm-assistants approvals show EMAIL_ID [--json]
    mm-assistants approvals approve EMAIL_ID [--reason TEXT]
    mm-assistants approvals reject EMAIL_ID --reason TEXT

Like the SDKs (and ``mm-assistants run``), it reads ``MULTIMAIL_API_KEY`` and
``MULTIMAIL_API_URL`` from the environment; ``--api-key`` and ``--base-url`` override them.
The key must hold the ``oversight`` scope. It is never printed. Exit codes: 0 done, 1
MultiMail refused or could not be reached (the message says why), 2 a usage or configuration
error (no key, a ``--base-url`` that is not MultiMail's); see `mm_assistants.cli.errors`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mm_assistants.cli.errors import NOT_MULTIMAIL, CliError
from mm_assistants.cli.preflight import is_multimail, multimail_options, open_client
from mm_assistants.review.backend import ReviewError
from mm_assistants.review.queue import find_pending, pending_row, pending_rows
from mm_assistants.review.text import render_decision, render_message, render_table

if TYPE_CHECKING:
    from mm_assistants.review.oversight import OversightQueue

PROG = "mm-assistants approvals"


def register(subparsers: Any) -> None:
    """Add ``approvals`` and its four subcommands."""
    common = multimail_options(key_help="an oversight-scoped MultiMail key")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print MultiMail's JSON")

    parser = subparsers.add_parser(
        "approvals",
        help="review the emails held for a human's approval",
        description="Review the emails MultiMail holds for a human's approval, with an "
        "oversight-scoped key ($MULTIMAIL_API_KEY or --api-key).",
    )
    commands = parser.add_subparsers(dest="approvals_command", metavar="SUBCOMMAND", required=True)
    listing = commands.add_parser(
        "list", parents=[common, as_json], help="the held emails, oldest first"
    )
    listing.set_defaults(handler=_list)
    show = commands.add_parser("show", parents=[common, as_json], help="one held email in full")
    show.add_argument("email_id", metavar="EMAIL_ID", help="the id `list` shows")
    show.set_defaults(handler=_show)
    approve = commands.add_parser(
        "approve", parents=[common, as_json], help="approve a held email (an outbound one is sent)"
    )
    approve.add_argument("email_id", metavar="EMAIL_ID", help="the id `list` shows")
    approve.add_argument("--reason", default=None, help="an optional note")
    approve.set_defaults(handler=_decider("approve"))
    reject = commands.add_parser(
        "reject", parents=[common, as_json], help="reject a held email, saying why"
    )
    reject.add_argument("email_id", metavar="EMAIL_ID", help="the id `list` shows")
    reject.add_argument(
        "--reason", required=True, help="what should change (the assistant reads it)"
    )
    reject.set_defaults(handler=_decider("reject"))


def _list(args: argparse.Namespace) -> int:
    return _with_queue(args, lambda queue: _print_list(queue, args.json))


def _show(args: argparse.Namespace) -> int:
    return _with_queue(args, lambda queue: _print_one(queue, args.email_id, args.json))


def _decider(action: str) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        def decide(queue: OversightQueue) -> None:
            answer = queue.decide(args.email_id, action, args.reason)
            if args.json:
                print(json.dumps(answer, indent=2))
            else:
                print(render_decision(args.email_id, action, answer))

        return _with_queue(args, decide)

    return handle


def _print_list(queue: OversightQueue, as_json: bool) -> None:
    emails = queue.pending()
    if as_json:
        print(json.dumps({"emails": emails}, indent=2, default=str))
    else:
        # a terminal's width lets the table fit it; a pipe gets every cell whole
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print(render_table(pending_rows(emails, time.time()), width=width))


def _print_one(queue: OversightQueue, email_id: str, as_json: bool) -> None:
    email = find_pending(queue.pending(), email_id)
    if email is None:
        # the API lists held emails only: an id not among them is unknown or decided
        raise ReviewError(
            f"no email {email_id} waits for a decision: the id is unknown, or it was "
            "already decided",
            status=404,
        )
    if as_json:
        print(json.dumps(email, indent=2, default=str))
    else:
        print(render_message(pending_row(email, time.time())))


def _with_queue(args: argparse.Namespace, work: Callable[[OversightQueue], None]) -> int:
    """Run ``work`` with an `OversightQueue`; a refusal is a `ReviewError` (exit 1) or a
    `CliError` (exit 2), which ``main`` prints as one line."""
    from mm_assistants.review.oversight import OversightQueue

    with open_client(args) as client:
        try:
            work(OversightQueue(client))
        except ReviewError as exc:
            # A 404 on the oversight paths: no such email, or not MultiMail at all?
            if exc.status == 404 and not is_multimail(client):
                raise CliError(NOT_MULTIMAIL) from None
            raise
        except ValueError as exc:  # a malformed decision, e.g. a blank reason
            raise CliError(str(exc)) from None
    return 0
