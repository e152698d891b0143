"""``mm-assistants assistant create`` and ``assistant update``: an assistant's MultiMail tools.

Both read ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` from the environment, like the SDKs do.
``create`` makes an assistant with the bundled tools of ``--schema-version`` (default v1);
``update`` replaces an existing assistant's MultiMail tools with those of the set it is
given (``--schema-version v2`` upgrades), keeps its other tools and metadata, records the
set, and says in one line what changed. ``run`` then answers with the recorded set.
"""

from __future__ import annotations

import argparse
from typing import Any

from mm_assistants.cli import run_cmd
from mm_assistants.cli.errors import configuration, warnings_as_notes
from mm_assistants.cli.run_cmd import MAILBOX_VARIABLE, mailbox_of, registry_for
from mm_assistants.cli.schema_choice import recorded_version, unknown_recorded, update_summary
from mm_assistants.review.untrusted import printable
from mm_assistants.tools import PROFILE_NAMES

# the library's keyword arguments the two commands have flags for (errors name the flags)
FLAGS = ("allow_self_approval", "mailbox_id")


def register(subparsers: Any) -> None:
    """Add ``assistant create`` and ``assistant update``."""
    assistant = subparsers.add_parser("assistant", help="manage assistants")
    commands = assistant.add_subparsers(
        dest="assistant_command", metavar="SUBCOMMAND", required=True
    )
    create = commands.add_parser(
        "create",
        help="create an assistant from the bundled schemas",
        description="Create an assistant with the bundled email tools; prints its id. "
        "OpenAI comes from $OPENAI_API_KEY and $OPENAI_BASE_URL.",
    )
    create.add_argument("--model", required=True, help="the model the assistant uses")
    _tool_options(create, "the bundled schema set its tools come from")
    create.add_argument("--name", default="MultiMail assistant", help="its name")
    create.add_argument("--instructions", default=None, help="its instructions")
    create.set_defaults(handler=_create)

    update = commands.add_parser(
        "update",
        help="give an existing assistant the MultiMail tools of a schema set (upgrade)",
        description="Replace an assistant's MultiMail tools with those of --schema-version "
        "(every other tool and its metadata are kept) and record the set in its metadata; "
        "prints one line saying what changed. OpenAI comes from $OPENAI_API_KEY and "
        "$OPENAI_BASE_URL.",
    )
    update.add_argument("assistant_id", metavar="ASSISTANT_ID", help="the assistant (asst_...)")
    _tool_options(update, "the bundled schema set its tools come from (v2 upgrades)", True)
    update.set_defaults(handler=_update)


def _tool_options(parser: argparse.ArgumentParser, what: str, required: bool = False) -> None:
    parser.add_argument(
        "--profile", choices=PROFILE_NAMES, default="agent", help="which tools it gets"
    )
    run_cmd.schema_version_option(parser, what, required=required)
    parser.add_argument(
        "--mailbox-id",
        default=None,
        help=f"hide mailbox_id from the tools: the dispatcher fills it (default: "
        f"${MAILBOX_VARIABLE})",
    )
    parser.add_argument(
        "--allow-self-approval",
        action="store_true",
        help="allow one tool set to both compose and approve (needed for --profile admin)",
    )


def _create(args: argparse.Namespace) -> int:
    from mm_assistants.openai_setup import create_assistant

    registry = registry_for(args.schema_version, args.profile)
    client = run_cmd.openai_client()
    try:
        with warnings_as_notes():
            assistant = create_assistant(
                client,
                model=args.model,
                name=args.name,
                profile=args.profile,
                mailbox_id=mailbox_of(args),
                instructions=args.instructions,
                allow_self_approval=args.allow_self_approval,
                registry=registry,
            )
    except ValueError as exc:  # a tool set the registry refuses, e.g. admin without the flag
        raise configuration(exc, FLAGS) from None
    print(assistant.id)
    return 0


def _update(args: argparse.Namespace) -> int:
    from mm_assistants._sunset import call_assistants
    from mm_assistants.openai_setup import multimail_tools_of, update_assistant_tools

    registry = registry_for(args.schema_version, args.profile)
    client = run_cmd.openai_client()
    # one block: the sunset note shows only when the update went through; a failure is its
    # one error line alone
    with warnings_as_notes():
        # read first: the line compares before with after, and an unknown set stops here
        current = call_assistants(client.beta.assistants.retrieve, args.assistant_id)
        old_version = recorded_version(current)
        refusal = unknown_recorded(args.assistant_id, old_version)
        if refusal is not None:
            raise refusal
        try:
            updated = update_assistant_tools(
                client,
                args.assistant_id,
                profile=args.profile,
                mailbox_id=mailbox_of(args),
                allow_self_approval=args.allow_self_approval,
                registry=registry,
            )
        except ValueError as exc:  # admin without the flag, or metadata with no room left
            raise configuration(exc, FLAGS) from None
    line = update_summary(
        args.assistant_id,
        multimail_tools_of(current),
        multimail_tools_of(updated),
        old_version=old_version,
        new_version=recorded_version(updated) or registry.version,
    )
    # the id and the recorded set come from the command line and the server: shown, not obeyed
    print(printable(line))
    return 0
