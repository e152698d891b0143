"""Which tools ``run`` lets the model call, and whether that needs a MultiMail key (pure: the
command retrieves the assistant; this decides and words).

`create_assistant` and `update_assistant_tools` record the tool set an assistant was given
(``metadata["mm_profile"]``, or ``mm_tools`` for an explicit list). ``run`` answers with that
set unless ``--profile`` says otherwise (`choose_tool_set`), like the schema set
(`mm_assistants.cli.schema_choice`). A set whose every tool needs no key (the ``signup``
profile: an operator's first account) runs without one (`needs_key`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mm_assistants.cli.errors import CONFIGURATION, CliError
from mm_assistants.openai_setup import PROFILE_KEY, TOOLS_KEY, recorded_tool_set
from mm_assistants.tools import PROFILE_NAMES, ToolRegistry

#: The profile ``run`` answers with when neither the flag nor the assistant names one.
DEFAULT_PROFILE = "agent"
#: Recorded profiles ``run`` follows without a flag. Metadata is writable by anyone holding
#: the OpenAI project's key, so it may narrow what the model can do, never widen it past
#: these: ``admin`` (billing, not_spam, account deletion) and an explicit tool list (which
#: could name any of those) need ``--profile`` on the command line.
FOLLOWED_PROFILES = ("agent", "reviewer", "signup")


@dataclass(frozen=True)
class ToolSetChoice:
    """The tool set to answer with: a ``profile``, or an explicit ``tools`` list (then
    ``profile`` is None); and the warning line to print first (None: nothing to say)."""

    profile: str | None
    tools: tuple[str, ...] | None = None
    warning: str | None = None


def recorded(assistant: Any) -> tuple[str | None, tuple[str, ...] | None]:
    """``(profile, tools)`` as the assistant's metadata records them; ``(None, None)``."""
    return recorded_tool_set(getattr(assistant, "metadata", None))


def choose_tool_set(
    assistant_id: str,
    flag: str | None,
    recorded_profile: str | None,
    recorded_tools: tuple[str, ...] | None,
) -> ToolSetChoice:
    """The tool set ``run`` answers with: the ``--profile`` flag if given (with a warning
    when the assistant records another set), else the recorded profile when it is one of
    `FOLLOWED_PROFILES`, else agent.

    Raises `CliError` (exit 2) for a recorded tool list, a recorded ``admin`` (metadata
    must not widen the model's powers; the flag confirms them) and a recorded profile this
    library does not know (a newer mm-assistants wrote it).
    """
    if flag is not None:
        if recorded_tools is not None:
            what, key = f"its own list of {len(recorded_tools)} tools", TOOLS_KEY
        elif recorded_profile not in (None, flag):
            what, key = f"profile {recorded_profile}", PROFILE_KEY
        else:
            return ToolSetChoice(flag)
        return ToolSetChoice(
            flag,
            warning=f"warning: assistant {assistant_id} records {what} (metadata {key}); "
            f"answering its calls with --profile {flag} as given: a tool call that profile "
            "lacks is refused to the model",
        )
    if recorded_tools is not None:
        raise CliError(
            f"assistant {assistant_id} records its own list of {len(recorded_tools)} tools "
            f"(metadata {TOOLS_KEY}); run follows only a recorded named profile "
            f"({', '.join(FOLLOWED_PROFILES)}): pass --profile",
            CONFIGURATION,
        )
    if recorded_profile is None:
        return ToolSetChoice(DEFAULT_PROFILE)
    if recorded_profile in PROFILE_NAMES and recorded_profile not in FOLLOWED_PROFILES:
        raise CliError(
            f"assistant {assistant_id} records profile {recorded_profile} (metadata "
            f"{PROFILE_KEY}); a profile that wide is never taken from metadata: pass "
            f"--profile {recorded_profile} to confirm",
            CONFIGURATION,
        )
    if recorded_profile not in PROFILE_NAMES:
        raise CliError(
            f"assistant {assistant_id} records profile {recorded_profile} (metadata "
            f"{PROFILE_KEY}), which this mm-assistants does not know "
            f"({', '.join(PROFILE_NAMES)}): pass --profile",
            CONFIGURATION,
        )
    return ToolSetChoice(recorded_profile)


def needs_key(registry: ToolRegistry, names: Iterable[str]) -> bool:
    """Whether any of the tools ``names`` calls an endpoint that takes a MultiMail key.

    Only the signup tools need none (``request_challenge``, ``create_account``,
    ``activate_account``, ``resend_confirmation``): an operator's first run has no key yet.
    An empty set needs one, so that ``run`` keeps checking the key it will be given.
    """
    scopes = {registry[name].endpoint.scope for name in names}
    return scopes != {"none"}
