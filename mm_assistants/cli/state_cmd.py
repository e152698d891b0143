"""``mm-assistants state``: set up and inspect the fleet's PostgreSQL database.

``state init`` creates the tables (or upgrades them) under the migration's advisory lock, so
it may run while workers start; ``state status`` prints the version found. The DSN comes
from ``MM_ASSISTANTS_DSN`` or ``--dsn``; the variable is preferred because a command line is
visible to the machine's other users (``ps``). Neither the password nor the DSN is printed:
output names ``host:port/database`` only.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from mm_assistants.cli.errors import CONFIGURATION, MISSING_EXTRA, REFUSED, CliError

#: The environment variable holding the DSN (preferred to ``--dsn``).
DSN_VARIABLE = "MM_ASSISTANTS_DSN"

_DSN_HELP = (
    f"PostgreSQL connection string (default: ${DSN_VARIABLE}). Prefer the variable: a"
    " command line, password included, is visible to other users of this machine"
)


def register(subparsers: Any) -> None:
    """Add the ``state`` command and its sub-commands."""
    parser = subparsers.add_parser(
        "state",
        help="set up the fleet's PostgreSQL database",
        description="Create, upgrade or inspect the PostgreSQL tables the fleet shares. "
        f"The DSN comes from ${DSN_VARIABLE} (preferred: a command line is visible to "
        "other users) or --dsn.",
    )
    commands = parser.add_subparsers(dest="state_command", metavar="SUBCOMMAND", required=True)
    init = commands.add_parser(
        "init",
        help="create or upgrade the tables (safe while workers start)",
        description="Create or upgrade the tables, under an advisory lock.",
    )
    init.add_argument("--dsn", default=None, help=_DSN_HELP)
    init.set_defaults(handler=_init)
    status = commands.add_parser("status", help="print the schema version of the database")
    status.add_argument("--dsn", default=None, help=_DSN_HELP)
    status.set_defaults(handler=_status)


def _init(args: argparse.Namespace) -> int:
    from mm_assistants.state.postgres.schema import CURRENT_VERSION, SchemaTooNew, migrate

    db = _database(args)
    conn = _connect(db)
    try:
        found = migrate(conn)
    except SchemaTooNew as error:
        raise CliError(str(error), REFUSED) from None
    except _psycopg_error() as error:
        raise CliError(_refused(db, error), REFUSED) from None
    finally:
        conn.close()
    print(f"PostgreSQL schema at version {CURRENT_VERSION} (was {found}) on {db.where}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from mm_assistants.state.postgres.schema import CURRENT_VERSION, schema_version

    db = _database(args)
    conn = _connect(db)
    try:
        found = schema_version(conn)
    except _psycopg_error() as error:
        raise CliError(_refused(db, error), REFUSED) from None
    finally:
        conn.close()
    if found == CURRENT_VERSION:
        note = "up to date"
    elif found < CURRENT_VERSION:
        note = f"run: mm-assistants state init (this release uses {CURRENT_VERSION})"
    else:
        note = f"newer than this release ({CURRENT_VERSION}): upgrade mm-assistants"
    print(f"PostgreSQL schema at version {found} on {db.where}: {note}")
    return 0 if found == CURRENT_VERSION else REFUSED


def _database(args: argparse.Namespace) -> Any:
    dsn = args.dsn or os.environ.get(DSN_VARIABLE, "")
    if not dsn.strip():
        raise CliError(f"no database: set {DSN_VARIABLE} (or pass --dsn)", CONFIGURATION)
    try:
        from mm_assistants.state.postgres.connection import PostgresDatabase

        return PostgresDatabase(dsn)
    except ImportError:
        raise CliError(
            'this command needs the "postgres" extra (missing module: psycopg); '
            'install it with: pip install "mm-assistants[postgres]"',
            MISSING_EXTRA,
        ) from None
    except ValueError as error:  # the message never repeats the DSN
        raise CliError(f"{error} (check {DSN_VARIABLE} or --dsn)", CONFIGURATION) from None


def _connect(db: Any) -> Any:
    try:
        return db.connect()
    except ConnectionError as error:  # names host:port/db and the kind of failure only
        raise CliError(f"{error} (check {DSN_VARIABLE} or --dsn)", REFUSED) from None


def _psycopg_error() -> type[Exception]:
    import psycopg

    error: type[Exception] = psycopg.Error
    return error


def _refused(db: Any, error: BaseException) -> str:
    # The server's message names no password; its first line says what was refused
    # (a missing privilege, most often), and the SQLSTATE lets an operator look it up.
    said = (getattr(getattr(error, "diag", None), "message_primary", None) or "").strip()
    state = getattr(error, "sqlstate", None) or "?"
    reason = said.splitlines()[0][:200] if said else type(error).__name__
    return f"PostgreSQL at {db.where} refused: {reason} (SQLSTATE {state})"


__all__ = ["DSN_VARIABLE", "register"]
