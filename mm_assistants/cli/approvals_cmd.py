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
MultiMail refused (the message says why), 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mm_assistants.review.backend import ReviewError
from mm_assistants.review.queue import find_pending, pending_row, pending_rows
from mm_assistants.review.text import render_decision, render_message, render_table
from mm_assistants.review.untrusted import printable

if TYPE_CHECKING:
    from mm_assistants.review.oversight import OversightQueue

PROG = "mm-assistants approvals"


def register(subparsers: Any) -> None:
    """Add ``approvals`` and its four subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-key",
        default=None,
        help="an oversight-scoped MultiMail key (default: $MULTIMAIL_API_KEY; the variable "
        "keeps it out of your shell history and process list)",
    )
    common.add_argument(
        "--base-url", default=None, help="MultiMail's API (default: $MULTIMAIL_API_URL)"
    )
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
        print(render_table(pending_rows(emails, time.time())))


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
    """Run ``work`` with an `OversightQueue`; print a failure as one line, exit 1 or 2."""
    from mm_assistants.multimail import MultiMailClient
    from mm_assistants.review.oversight import OversightQueue

    try:
        client = MultiMailClient(api_key=args.api_key, base_url=args.base_url)
    except ValueError as exc:  # no key, or a malformed URL: the message never holds the key
        _complain(exc)
        return 2
    with client:
        try:
            work(OversightQueue(client))
        except ReviewError as exc:
            _complain(exc)
            return 1
        except ValueError as exc:  # a malformed decision, e.g. a blank reason
            _complain(exc)
            return 2
    return 0


def _complain(exc: Exception) -> None:
    # a refusal may quote MultiMail's words or a typed id: both untrusted on a terminal
    print(f"{PROG}: {printable(str(exc))}", file=sys.stderr)
