"""The ``mm-assistants`` command: one argparse parser, one module per subcommand.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` (a callable taking the parsed namespace and returning an exit code). `main` turns
every failure a user can cause into one line and an exit code (`mm_assistants.cli.errors`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from mm_assistants._version import __version__
from mm_assistants.cli.errors import explain, missing_extra, report

PROG = "mm-assistants"

# Modules are imported by name so a subcommand whose extra is missing fails only when used;
# the names are listed here so such a command still shows in --help and can say what to install.
SUBCOMMAND_MODULES = (
    ("mm_assistants.cli.schemas_cmd", ("schemas",)),
    ("mm_assistants.cli.sandbox_cmd", ("sandbox",)),
    ("mm_assistants.cli.run_cmd", ("run",)),
    ("mm_assistants.cli.assistant_cmd", ("assistant",)),
    ("mm_assistants.cli.approvals_cmd", ("approvals",)),
    ("mm_assistants.cli.demo_cmd", ("demo",)),
    ("mm_assistants.cli.state_cmd", ("state",)),
)

#: Environment variables whose values never appear in an error line.
SECRET_VARIABLES = ("MULTIMAIL_API_KEY", "OPENAI_API_KEY", "MM_SANDBOX_TOKEN", "MM_ASSISTANTS_DSN")


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="MultiMail email tools for OpenAI assistants.",
        epilog="Exit codes: 0 done, 1 the service said no (or a run did not complete), "
        "2 usage or configuration, 3 an optional extra is missing, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, commands in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # Every subcommand module ships with the package: only a missing optional
            # dependency is expected here; anything else is a broken install and raises.
            if missing_extra(exc) is None:
                raise
            for command in commands:
                _unavailable(subparsers, command, exc)
            continue
        module.register(subparsers)
    return parser


def _unavailable(subparsers: Any, command: str, exc: ImportError) -> None:
    # listed in --help; running it (with any arguments) reports the extra to install
    stub = subparsers.add_parser(command, help="(needs an extra: run it to see which)")

    def handler(args: argparse.Namespace) -> int:
        raise exc

    stub.set_defaults(handler=handler, any_arguments=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    # parse_args, except that a command whose extra is missing takes any arguments: it only
    # says what to install, whatever flags the full command would have had
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "any_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    prog = f"{PROG} {args.command}"
    try:
        code: int = handler(args)
    except BrokenPipeError:
        # the reader went away (`| head`): nothing to tell it; keep Python's exit quiet
        with contextlib.suppress(OSError, ValueError):  # stdout is not a file (captured)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (Exception, KeyboardInterrupt) as exc:
        failure = explain(exc)
        if failure is None:
            raise  # a bug: its traceback is the report
        secrets = [getattr(args, "api_key", None), getattr(args, "dsn", None)]
        secrets += [os.environ.get(name) for name in SECRET_VARIABLES]
        report(prog, failure, secrets=secrets, err=sys.stderr)
        return failure.code
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
