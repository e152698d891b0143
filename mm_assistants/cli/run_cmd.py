"""``mm-assistants run``: drive one run of an existing assistant against real endpoints.

It reads ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` from the environment, like the SDKs do, and
``MULTIMAIL_API_KEY``/``MULTIMAIL_API_URL`` (``--api-key``/``--base-url`` override them) and
``MULTIMAIL_MAILBOX_ID`` for the default mailbox. The helpers ``assistant create`` and
``assistant update`` share with it (`mm_assistants.cli.assistant_cmd`) live here too.

``run`` answers the assistant's calls with the schema set the assistant records
(``metadata["mm_schema_version"]``, written by ``assistant create``/``update``), else v1;
``--schema-version`` overrides it, with a warning when the two disagree.

``run`` limits the model to the mailbox it is given (``--mailbox-id`` or
``MULTIMAIL_MAILBOX_ID``); ``--any-mailbox`` widens that to every mailbox the key reaches.
With no mailbox at all the model may use any mailbox, and ``run`` says so on stderr. Before the
run starts it checks that the MultiMail URL is MultiMail's and that the key is accepted, so a
wrong setup is one line (`mm_assistants.cli.errors`), not a run whose every tool call fails.

Answers that carry a secret for the operator (an API key, a signing secret, a billing link)
go to ``--secrets-file`` (`mm_assistants.cli.secrets_out`); without it the model's calls of
those tools are refused, and ``run`` says so in one line when the profile has such a tool.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from mm_assistants.cli.errors import CliError, configuration, warnings_as_notes
from mm_assistants.cli.preflight import check_multimail, multimail_options, open_client
from mm_assistants.cli.schema_choice import choose_version, recorded_version
from mm_assistants.cli.secrets_out import SecretsFile, refused_note
from mm_assistants.review.untrusted import printable
from mm_assistants.tools import (
    DEFAULT_SCHEMA_VERSION,
    PROFILE_NAMES,
    SCHEMA_VERSIONS,
    ToolRegistry,
    load_registry,
)

MAILBOX_VARIABLE = "MULTIMAIL_MAILBOX_ID"


def register(subparsers: Any) -> None:
    """Add ``run``."""
    run = subparsers.add_parser(
        "run",
        parents=[multimail_options()],
        help="drive a run of an existing assistant",
        description="Drive one run of an existing assistant, answering its email tool calls "
        "with MultiMail. OpenAI comes from $OPENAI_API_KEY and $OPENAI_BASE_URL.",
    )
    run.add_argument("--assistant", required=True, help="the assistant id (asst_...)")
    target = run.add_mutually_exclusive_group(required=True)
    target.add_argument("--thread", help="run on this existing thread")
    target.add_argument("--message", help="start a new thread with this user message")
    run.add_argument(
        "--mode", choices=("poll", "stream"), default="poll", help="how to follow the run"
    )
    run.add_argument(
        "--mailbox-id",
        default=None,
        help=f"the mailbox the model works in, and the only one it may use (default: "
        f"${MAILBOX_VARIABLE}); with neither, the model may use every mailbox the key reaches",
    )
    run.add_argument(
        "--any-mailbox",
        action="store_true",
        help="let the model use every mailbox the API key reaches (--mailbox-id stays the "
        "default one)",
    )
    run.add_argument(
        "--profile", choices=PROFILE_NAMES, default="agent", help="which tools the model may call"
    )
    run.add_argument(
        "--allow-self-approval",
        action="store_true",
        help="allow one tool set to both compose and approve (needed for --profile admin)",
    )
    schema_version_option(
        run,
        "the schema set the assistant's tools come from (default: the one the assistant "
        f"records, else {DEFAULT_SCHEMA_VERSION})",
        default=None,
    )
    run.add_argument(
        "--max-wait", type=float, default=540.0, help="longest wait for an approval, seconds"
    )
    run.add_argument(
        "--secrets-file",
        metavar="PATH",
        default=None,
        help="append the secrets a tool answers with (an account's API key, shown once; a "
        "billing link) to this private file, one JSON line each, instead of refusing those "
        "tools; created 0600, never truncated, refused when others can read it",
    )
    run.add_argument("--json", action="store_true", help="print the outcome as JSON")
    run.set_defaults(handler=_run)


def schema_version_option(
    parser: argparse.ArgumentParser,
    what: str,
    *,
    default: str | None = DEFAULT_SCHEMA_VERSION,
    required: bool = False,
) -> None:
    """Add ``--schema-version`` (one of the bundled sets). Its default is never a newer set:
    v2's tools are only ever asked for by name."""
    parser.add_argument(
        "--schema-version", choices=SCHEMA_VERSIONS, default=default, required=required, help=what
    )


def registry_for(version: str, profile: str) -> ToolRegistry:
    """The schema set ``version``, once ``profile`` is known to exist in it."""
    registry = load_registry(version)
    try:
        registry.resolve(profile=profile, allow_self_approval=True)
    except ValueError:  # e.g. the signup profile, which exists from v2 on
        raise CliError(
            f"--profile {profile} is not in schema set {version}: pass the "
            f"--schema-version that has it ({', '.join(SCHEMA_VERSIONS)})"
        ) from None
    return registry


def openai_client() -> Any:
    """The OpenAI client the environment configures; one line (exit 2) without a key."""
    import openai

    try:
        return openai.OpenAI()
    except openai.OpenAIError:  # no credentials: the SDK's message names Python arguments
        raise CliError(
            "no OpenAI API key: set OPENAI_API_KEY (and OPENAI_BASE_URL for a server other "
            "than OpenAI's)"
        ) from None


def mailbox_of(args: argparse.Namespace) -> str | None:
    """``--mailbox-id``, else ``$MULTIMAIL_MAILBOX_ID``; None when neither is set."""
    # read as the library reads it: blank or white space means "not set"
    given = args.mailbox_id or os.environ.get(MAILBOX_VARIABLE) or ""
    return given.strip() or None


def _run(args: argparse.Namespace) -> int:
    # opened first: a file that may not hold secrets is refused before anything runs
    secrets = SecretsFile.open(args.secrets_file) if args.secrets_file else None
    try:
        return _drive(args, secrets)
    finally:
        if secrets is not None:
            secrets.close()
            # said even when the run failed later: the operator must know a key is there
            for written in secrets.written:  # what and where, never the value
                print(printable(f"note: {written} appended to {secrets.path}"), file=sys.stderr)


def _drive(args: argparse.Namespace, secrets: SecretsFile | None) -> int:
    from mm_assistants import ANY_MAILBOX, ApprovalPolicy, AssistantsRunDriver, Dispatcher

    openai = openai_client()
    mailbox_id = mailbox_of(args)
    with open_client(args) as client:
        check_multimail(client)
        # the Assistants sunset warning becomes one "note:" line, not a Python warning, and
        # only once the run is through: a failure here is its one error line alone
        with warnings_as_notes():
            registry = registry_for(_schema_version(openai, args), args.profile)
            try:
                dispatcher = Dispatcher(
                    client,
                    registry=registry,
                    profile=args.profile,
                    mailbox_id=mailbox_id,
                    allowed_mailboxes=ANY_MAILBOX if args.any_mailbox else None,
                    allow_self_approval=args.allow_self_approval,
                    on_secret=secrets,
                )
            except ValueError as exc:  # a mailbox id that cannot be one; admin without the flag
                raise configuration(exc, ("mailbox_id", "allow_self_approval")) from None
            if not mailbox_id and not args.any_mailbox:
                # An unscoped run is allowed (a key for one mailbox needs no more), never silent;
                # said once the setup is known good, so an error line stays alone
                print(
                    f"warning: no --mailbox-id (or {MAILBOX_VARIABLE}): the model may use every "
                    "mailbox the API key reaches; pass --any-mailbox to mean it",
                    file=sys.stderr,
                )
            refused = None if secrets is not None else refused_note(dispatcher.enabled_tools)
            if refused is not None:
                print(refused, file=sys.stderr)
            driver = AssistantsRunDriver(
                openai,
                dispatcher,
                mode=args.mode,
                approvals=ApprovalPolicy(max_wait=args.max_wait),
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


def _schema_version(openai: Any, args: argparse.Namespace) -> str:
    # one retrieve: the set the assistant records decides unless the flag says otherwise
    from mm_assistants._sunset import call_assistants

    assistant = call_assistants(openai.beta.assistants.retrieve, args.assistant)
    choice = choose_version(args.assistant, args.schema_version, recorded_version(assistant))
    if choice.warning is not None:
        print(printable(choice.warning), file=sys.stderr)
    return choice.version
