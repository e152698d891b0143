"""``mm-assistants demo``: the command line of the offline demo. It picks the telling:
`mm_assistants.cli.demo` (the driver runs the story) or, with ``--webhooks``,
`mm_assistants.cli.demo_webhooks` (signed webhooks from the sandbox start and wake it).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mm_assistants.cli.demo import run_demo
from mm_assistants.cli.demo_story import DemoOptions
from mm_assistants.tools import DEFAULT_SCHEMA_VERSION, SCHEMA_VERSIONS

#: The exit code of an interrupted demo (the shell's 128 + SIGINT).
INTERRUPTED = 130


def register(subparsers: Any) -> None:
    """Add ``demo``."""
    parser = subparsers.add_parser("demo", help="the offline demo on the embedded sandbox")
    parser.add_argument("--api", choices=("assistants", "responses"), default="assistants")
    parser.add_argument(
        "--mode",
        choices=("poll", "stream"),
        default="poll",
        help="stream: the run streams (Assistants events; with --api responses the model's "
        "words are shown as they arrive)",
    )
    parser.add_argument("--decision", choices=("approve", "reject"), default="approve")
    parser.add_argument("--reason", default=None, help="the reviewer's reason for a rejection")
    parser.add_argument(
        "--decide-after", type=float, default=3.0, help="seconds before the reviewer decides"
    )
    parser.add_argument(
        "--interactive", action="store_true", help="you are the reviewer: approve or reject"
    )
    parser.add_argument(
        "--max-wait", type=float, default=120.0, help="longest approval wait, seconds"
    )
    parser.add_argument("--json", action="store_true", help="print the RunOutcome as JSON")
    parser.add_argument(
        "--schema-version",
        choices=SCHEMA_VERSIONS,
        default=DEFAULT_SCHEMA_VERSION,
        help=f"the bundled schema set the assistant gets (default: {DEFAULT_SCHEMA_VERSION})",
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="the sandbox delivers signed webhooks to the demo: the inbound email starts the "
        "run and the approval wakes it at once",
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    options = DemoOptions(
        api=args.api,
        mode=args.mode,
        decision=args.decision,
        reason=args.reason
        or ("Please do not promise a time yet." if args.decision == "reject" else None),
        decide_after=args.decide_after,
        interactive=args.interactive,
        max_wait=args.max_wait,
        as_json=args.json,
        webhooks=args.webhooks,
        schema_version=args.schema_version,
    )
    if options.webhooks and (options.api != "assistants" or options.mode != "poll"):
        print("mm-assistants demo: --webhooks runs the Assistants poll driver", file=sys.stderr)
        return 2
    # With --json, stdout carries only the JSON; the transcript goes to stderr.
    out = sys.stderr if options.as_json else sys.stdout
    try:
        if options.webhooks:  # imported when asked for: it is the only telling with a server
            from mm_assistants.cli.demo_webhooks import run_webhook_demo

            outcome = run_webhook_demo(options, out)
        else:
            outcome = run_demo(options, out)
    except KeyboardInterrupt:
        # Ctrl-C anywhere, or Ctrl-C / Ctrl-D at the reviewer's prompt: one line, no
        # traceback; the run's thread is a daemon and ends with the process
        print("\nmm-assistants demo: interrupted", file=sys.stderr)
        return INTERRUPTED
    if options.as_json:
        print(json.dumps(outcome.as_dict(), indent=2, default=str))
    return 0 if outcome.status == "completed" else 1
