"""Create an OpenAI assistant whose tools are mm-assistants' bundled MultiMail schemas.

Shows `create_assistant`: the ``agent`` profile's tools, strict mode, and a pinned mailbox
(the model never sees a ``mailbox_id`` argument; the dispatcher fills it in). Prints the
new assistant's id, which `worker.py` takes.

Reads ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` and ``MULTIMAIL_MAILBOX_ID`` from the
environment. Run it (see examples/README.md for the sandbox)::

    python examples/create_assistant.py --model gpt-4.1
"""

from __future__ import annotations

import argparse
import os

from openai import OpenAI

from mm_assistants import create_assistant


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="gpt-4.1")
    parser.add_argument("--name", default="Inbox assistant")
    parser.add_argument("--profile", default="agent", choices=("agent", "reviewer"))
    parser.add_argument(
        "--mailbox-id",
        default=os.environ.get("MULTIMAIL_MAILBOX_ID"),
        help="the mailbox to pin (default: $MULTIMAIL_MAILBOX_ID)",
    )
    args = parser.parse_args()

    assistant = create_assistant(
        OpenAI(),
        model=args.model,
        name=args.name,
        profile=args.profile,
        mailbox_id=args.mailbox_id,
    )
    print(f"assistant {assistant.id}: {len(assistant.tools)} tools ({args.profile} profile)")
    print(f"  next: python examples/worker.py {assistant.id} 'Answer my newest email'")


if __name__ == "__main__":
    main()
