"""``mm-assistants schemas``: list, show, export and check the bundled tool schemas."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mm_assistants.tools import FORMATS, PROFILE_NAMES, SCHEMA_VERSIONS, load_registry
from mm_assistants.tools.schemas import check_schema_folder, read_manifest, schema_dir


def register(subparsers: Any) -> None:
    """Add the ``schemas`` command and its sub-commands."""
    parser = subparsers.add_parser("schemas", help="list, show, export and check tool schemas")
    parser.add_argument("--version", dest="schema_version", default="v1", choices=SCHEMA_VERSIONS)
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


def _list(args: argparse.Namespace) -> int:
    registry = load_registry(args.schema_version)
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
    registry = load_registry(args.schema_version)
    if args.name not in registry:
        print(f"unknown tool {args.name!r}; try 'mm-assistants schemas list'", file=sys.stderr)
        return 1
    print(json.dumps(registry[args.name].definition(), indent=2))
    return 0


def _export(args: argparse.Namespace) -> int:
    registry = load_registry(args.schema_version)
    try:
        tools = registry.tools(
            args.format,
            profile=args.profile,
            strict=args.strict,
            mailbox_id=args.mailbox_id,
            allow_self_approval=args.allow_self_approval,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(tools, indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    """Exit 0 listing every checked tool, or 1 naming each offending file and rule."""
    root = args.dir if args.dir is not None else schema_dir(args.schema_version)
    problems = check_schema_folder(args.schema_version, root)
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
