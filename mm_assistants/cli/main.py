"""The ``mm-assistants`` command: one argparse parser, one module per subcommand.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` (a callable taking the parsed namespace and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mm_assistants._version import __version__

# Modules are imported by name so a subcommand whose extra is missing fails only when used.
SUBCOMMAND_MODULES = (
    "mm_assistants.cli.schemas_cmd",
    "mm_assistants.cli.sandbox_cmd",
    "mm_assistants.cli.run_cmd",
    "mm_assistants.cli.approvals_cmd",
    "mm_assistants.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="mm-assistants",
        description="MultiMail email tools for OpenAI assistants.",
    )
    parser.add_argument("--version", action="version", version=f"mm-assistants {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not built yet in this checkout
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    code: int = handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
