"""``mm-assistants schemas``: list, show, export, check and compare the bundled tool schemas.

``--schema-version`` picks the bundled set (``v1``); the old ``schemas --version v1`` still
works and prints a note, since ``mm-assistants --version`` is the program's own version.
``schemas diff OLD NEW`` says what changes for a model between two bundled sets
(`mm_assistants.tools.diff`), in sentences or, with ``--json``, as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mm_assistants.cli.errors import CONFIGURATION, REFUSED, CliError, configuration
from mm_assistants.tools import FORMATS, PROFILE_NAMES, SCHEMA_VERSIONS, load_registry
from mm_assistants.tools.diff import diff_registries
from mm_assistants.tools.schemas import check_schema_folder, read_manifest, schema_dir


def register(subparsers: Any) -> None:
    """Add the ``schemas`` command and its sub-commands."""
    parser = subparsers.add_parser(
        "schemas",
        help="list, show, export, check and compare tool schemas",
        description="List, show, export, check and compare the bundled tool schemas.",
    )
    parser.add_argument(
        "--schema-version",
        dest="schema_version",
        default="v1",
        choices=SCHEMA_VERSIONS,
        help="the bundled schema set (default: v1)",
    )
    # The old spelling, which read like the program's own --version: still accepted, hidden,
    # and answered with a note (`_schema_version`).
    parser.add_argument(
        "--version",
        dest="old_schema_version",
        default=None,
        choices=SCHEMA_VERSIONS,
        help=argparse.SUPPRESS,
    )
    commands = parser.add_subparsers(dest="schemas_command", metavar="SUBCOMMAND", required=True)

    listing = commands.add_parser("list", help="one line per tool")
    listing.add_argument("--profile", choices=PROFILE_NAMES, default="admin")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="print one tool's bundled definition")
    show.add_argument("name")
    show.set_defaults(handler=_show)

    export = commands.add_parser("export", help="print tool definitions as JSON for an API")
    export.add_argument("--format", choices=FORMATS, default="assistants")
    export.add_argument("--profile", choices=PROFILE_NAMES, default="agent")
    export.add_argument("--strict", action=argparse.BooleanOptionalAction, default=True)
    export.add_argument(
        "--mailbox-id", default=None, help="hide mailbox_id; the dispatcher fills it"
    )
    export.add_argument(
        "--allow-self-approval",
        action="store_true",
        help="allow one tool set to both compose and approve (needed for --profile admin)",
    )
    export.set_defaults(handler=_export)

    check = commands.add_parser("check", help="validate every schema file and the manifest")
    check.add_argument("--dir", type=Path, default=None, help="check this folder instead")
    check.set_defaults(handler=_check)

    known = ", ".join(SCHEMA_VERSIONS)
    diff = commands.add_parser(
        "diff",
        help="what changes for a model between two schema sets",
        description="Compare two bundled schema sets: tools added, removed and changed "
        "(parameters, allowed values, limits, endpoint, title, annotations). "
        f"Bundled sets: {known}.",
        epilog="Example: mm-assistants schemas diff v1 v2 --json",
    )
    # not argparse choices: an unknown version is one line naming the bundled ones, not usage
    diff.add_argument("old", metavar="OLD", help=f"the schema set you have ({known})")
    diff.add_argument("new", metavar="NEW", help=f"the schema set to compare it with ({known})")
    diff.add_argument("--json", action="store_true", help="print the comparison as JSON")
    diff.set_defaults(handler=_diff)


def _schema_version(args: argparse.Namespace) -> str:
    """The schema set asked for; the deprecated ``schemas --version`` still works, with a note."""
    if args.old_schema_version is None:
        return str(args.schema_version)
    print(
        "note: 'mm-assistants schemas --version' is now --schema-version ('--version' alone "
        "prints the program's version)",
        file=sys.stderr,
    )
    return str(args.old_schema_version)


def _list(args: argparse.Namespace) -> int:
    registry = load_registry(_schema_version(args))
    names = registry.resolve(profile=args.profile, allow_self_approval=True)
    width = max(len(name) for name in names)
    for name in names:
        spec = registry[name]
        flags = ",".join(
            flag for flag, on in (("gated", spec.gated), ("client-side", spec.client_side)) if on
        )
        summary = spec.description.split(". ")[0].rstrip(".")
        print(f"{name:<{width}}  {spec.scope:<9}  {spec.effect:<11}  {flags:<18}  {summary}")
    return 0


def _show(args: argparse.Namespace) -> int:
    registry = load_registry(_schema_version(args))
    if args.name not in registry:
        raise CliError(f"unknown tool {args.name!r}; try 'mm-assistants schemas list'", REFUSED)
    print(json.dumps(registry[args.name].definition(), indent=2))
    return 0


def _export(args: argparse.Namespace) -> int:
    registry = load_registry(_schema_version(args))
    try:
        tools = registry.tools(
            args.format,
            profile=args.profile,
            strict=args.strict,
            mailbox_id=args.mailbox_id,
            allow_self_approval=args.allow_self_approval,
        )
    except ValueError as exc:  # a tool set the registry refuses: say it with the flags
        raise configuration(exc, ("allow_self_approval", "mailbox_id")) from None
    print(json.dumps(tools, indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    """Exit 0 listing every checked tool, or 1 naming each offending file and rule."""
    version = _schema_version(args)
    root = args.dir if args.dir is not None else schema_dir(version)
    problems = check_schema_folder(version, root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"schemas check failed: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    manifest = read_manifest(root)
    for name in manifest["tools"]:
        print(f"ok  {name}")
    print(
        f"ok: {len(manifest['tools'])} tools in schema set {manifest['schema_version']} "
        f"(MultiMail API {manifest['multimail_api_version']})"
    )
    return 0


def _diff(args: argparse.Namespace) -> int:
    """Print the comparison of two bundled sets; exit 2 naming the bundled ones if unknown."""
    for version in (args.old, args.new):
        if version not in SCHEMA_VERSIONS:
            raise CliError(
                f"unknown schema version {version!r}: the bundled ones are "
                f"{', '.join(SCHEMA_VERSIONS)} (e.g. 'mm-assistants schemas diff "
                f"{SCHEMA_VERSIONS[0]} {SCHEMA_VERSIONS[-1]}')",
                CONFIGURATION,
            )
    result = diff_registries(load_registry(args.old), load_registry(args.new))
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.describe())
    return 0
