"""Which schema set a command uses for an existing assistant, and what an upgrade changed
(pure: the commands retrieve and update; this decides and words).

`create_assistant` and `update_assistant_tools` record the bundled set an assistant's tools
come from as ``metadata["mm_schema_version"]``. ``run`` answers the assistant's calls with
that set unless ``--schema-version`` says otherwise (`choose_version`); ``assistant update``
prints what it changed in one line (`update_summary`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mm_assistants.cli.errors import CONFIGURATION, CliError
from mm_assistants.openai_setup import SCHEMA_VERSION_KEY
from mm_assistants.tools import DEFAULT_SCHEMA_VERSION, SCHEMA_VERSIONS

#: How many tool names an update's line spells out before it only counts the rest.
NAMES_SHOWN = 8


@dataclass(frozen=True)
class VersionChoice:
    """The schema set to use, and the warning line to print first (None: nothing to say)."""

    version: str
    warning: str | None = None


def recorded_version(assistant: Any) -> str | None:
    """The schema set an assistant records (``metadata["mm_schema_version"]``), or None for
    an assistant created without this library's help (or before it recorded one)."""
    metadata = getattr(assistant, "metadata", None) or {}
    value = metadata.get(SCHEMA_VERSION_KEY)
    if value is None:
        return None
    # the Assistants API keeps metadata values as strings; a blank one records nothing
    return str(value).strip() or None


def choose_version(assistant_id: str, flag: str | None, recorded: str | None) -> VersionChoice:
    """The set ``run`` answers with: the flag if given (with a warning when the assistant
    records another), else the recorded set, else the default (v1).

    Raises `CliError` (exit 2) for a recorded set this library does not bundle, e.g. ``v9``
    written by a newer mm-assistants: answering with an older set would refuse the tools
    the model was given, call after call.
    """
    if flag is not None:
        if recorded is None or recorded == flag:
            return VersionChoice(flag)
        return VersionChoice(
            flag,
            f"warning: assistant {assistant_id} records schema set {recorded} (metadata "
            f"{SCHEMA_VERSION_KEY}); answering its calls with --schema-version {flag} as "
            "given: a tool call that set lacks is refused to the model",
        )
    if recorded is None:
        return VersionChoice(DEFAULT_SCHEMA_VERSION)
    if recorded not in SCHEMA_VERSIONS:
        raise _not_bundled(
            assistant_id,
            recorded,
            "upgrade mm-assistants, or pass --schema-version to answer its calls with a "
            "bundled set",
        )
    return VersionChoice(recorded)


def unknown_recorded(assistant_id: str, recorded: str | None) -> CliError | None:
    """The refusal of ``assistant update`` for an assistant that records a set this library
    does not bundle (its tools of that set would not be recognised, so not removed), or None.
    """
    if recorded is None or recorded in SCHEMA_VERSIONS:
        return None
    return _not_bundled(
        assistant_id,
        recorded,
        "its tools of that set would be left beside the new ones; upgrade mm-assistants first",
    )


def update_summary(
    assistant_id: str,
    before: Iterable[str],
    after: Iterable[str],
    *,
    old_version: str | None,
    new_version: str,
) -> str:
    """One line: the sets, the MultiMail tools added and removed by name, how many it has.

    >>> update_summary("asst_1", ["send_email"], ["send_email", "report_spam"],
    ...                old_version="v1", new_version="v2")
    'updated asst_1: schema set v1 -> v2; added 1 (report_spam), removed 0; 2 MultiMail tools'
    """
    had, has = set(before), set(after)
    return (
        f"updated {assistant_id}: schema set {old_version or 'unrecorded'} -> {new_version}; "
        f"added {_named(sorted(has - had))}, removed {_named(sorted(had - has))}; "
        f"{len(has)} MultiMail tools"
    )


def _named(names: list[str]) -> str:
    # a count, and the names while they fit on a line (admin has 46)
    if not names:
        return "0"
    shown = ", ".join(names[:NAMES_SHOWN])
    if len(names) > NAMES_SHOWN:
        shown += f", and {len(names) - NAMES_SHOWN} more"
    return f"{len(names)} ({shown})"


def _not_bundled(assistant_id: str, recorded: str, advice: str) -> CliError:
    return CliError(
        f"assistant {assistant_id} records schema set {recorded} (metadata "
        f"{SCHEMA_VERSION_KEY}), which this mm-assistants does not bundle "
        f"({', '.join(SCHEMA_VERSIONS)}): {advice}",
        CONFIGURATION,
    )
