"""``mm-assistants run``: drive one run of an existing assistant against real endpoints.

It reads ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` from the environment, like the SDKs do, and
``MULTIMAIL_API_KEY``/``MULTIMAIL_API_URL`` (``--api-key``/``--base-url`` override them) and
``MULTIMAIL_MAILBOX_ID`` for the default mailbox. The helpers ``assistant create`` and
``assistant update`` share with it (`mm_assistants.cli.assistant_cmd`) live here too.

``run`` answers the assistant's calls with the schema set and the tool set the assistant
records (``metadata["mm_schema_version"]`` and ``mm_profile``/``mm_tools``, written by
``assistant create``/``update``), else v1 and the agent profile; ``--schema-version`` and
``--profile`` override them, with a warning when they disagree.

``--message`` starts a new thread; with ``--thread`` it is added to that thread as the run
starts (an operator pasting an emailed code). A tool set that needs no MultiMail key (the
``signup`` profile) runs without one: its requests carry no key, and the start-up check
only asks whether the URL is MultiMail's.

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
import uuid
from typing import Any

from mm_assistants.cli.errors import CliError, configuration, warnings_as_notes
from mm_assistants.cli.preflight import check_multimail, multimail_options, open_client
from mm_assistants.cli.profile_choice import ToolSetChoice, choose_tool_set, needs_key, recorded
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
    run.add_argument("--thread", help="run on this existing thread")
    run.add_argument(
        "--message",
        help="the user message: starts a new thread, or with --thread is added to that one",
    )
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
        "--profile",
        choices=PROFILE_NAMES,
        default=None,
        help="which tools the model may call (default: the tool set the assistant records, "
        "else agent); signup needs no MultiMail key",
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


def registry_for(
    version: str, profile: str | None, tools: tuple[str, ...] | None = None
) -> ToolRegistry:
    """The schema set ``version``, once ``profile`` (or the ``tools`` an assistant records)
    is known to exist in it."""
    registry = load_registry(version)
    try:
        registry.resolve(profile=profile, tools=tools, allow_self_approval=True)
    except ValueError as exc:  # e.g. the signup profile, which exists from v2 on
        if tools is not None:
            raise CliError(f"the tools the assistant records (metadata mm_tools): {exc}") from None
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
    if not args.thread and not args.message:
        raise CliError("pass --message to start a new thread, --thread to run on one, or both")
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
    # the Assistants sunset warning becomes one "note:" line, not a Python warning, and only
    # once the run is through: a failure anywhere here is its one error line alone
    with warnings_as_notes():
        # the assistant first: the tool set it records decides whether MultiMail needs a key
        version, tool_set, warnings = _choices(openai, args)
        registry = registry_for(version, tool_set.profile, tool_set.tools)
        names = registry.resolve(
            profile=tool_set.profile, tools=tool_set.tools, allow_self_approval=True
        )
        keyed = needs_key(registry, names)
        with open_client(args, keyed=keyed) as client:
            check_multimail(client)
            for line in warnings:  # said once the setup is known good, like every warning
                print(printable(line), file=sys.stderr)
            try:
                dispatcher = Dispatcher(
                    client,
                    registry=registry,
                    profile=tool_set.profile,
                    tools=tool_set.tools,
                    mailbox_id=mailbox_id,
                    allowed_mailboxes=ANY_MAILBOX if args.any_mailbox else None,
                    allow_self_approval=args.allow_self_approval,
                    on_secret=secrets,
                )
            except ValueError as exc:  # a mailbox id that cannot be one; admin without the flag
                raise configuration(exc, ("mailbox_id", "allow_self_approval")) from None
            if not mailbox_id and not args.any_mailbox and keyed:
                # An unscoped run is allowed (a key for one mailbox needs no more), never silent
                # (a keyless run reaches no mailbox at all: nothing to say)
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
            outcome = _start(driver, args)
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


def _start(driver: Any, args: argparse.Namespace) -> Any:
    if not args.thread:
        return driver.create_thread_and_run(args.assistant, [args.message])
    if not args.message:
        return driver.run(args.thread, args.assistant)
    from mm_assistants.drivers.assistants_start import KeyedMessage

    # posted with the run that carries it; a thread busy with another run has that run driven
    # to its end first, then the message goes with a new one. The key is this command's own:
    # the same words typed again later are a new message, not a repeat to leave out.
    message = KeyedMessage(key=f"cli_{uuid.uuid4().hex}", content=args.message)
    return driver.run_messages(args.thread, args.assistant, [message], check_posted=False)


def _choices(openai: Any, args: argparse.Namespace) -> tuple[str, ToolSetChoice, list[str]]:
    # one retrieve: the sets the assistant records decide unless the flags say otherwise
    from mm_assistants._sunset import call_assistants

    assistant = call_assistants(openai.beta.assistants.retrieve, args.assistant)
    version = choose_version(args.assistant, args.schema_version, recorded_version(assistant))
    tool_set = choose_tool_set(args.assistant, args.profile, *recorded(assistant))
    warnings = [line for line in (version.warning, tool_set.warning) if line is not None]
    return version.version, tool_set, warnings
