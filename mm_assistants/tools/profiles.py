"""Named tool sets, and the rule that one assistant never both composes and approves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Tools that put a message on its way out.
COMPOSE_TOOLS = frozenset({"send_email", "reply_email", "schedule_email", "edit_scheduled_email"})
#: Tools that decide on held messages.
APPROVE_TOOLS = frozenset({"decide_email"})

PROFILES: Mapping[str, tuple[str, ...]] = {
    "agent": (
        "list_mailboxes",
        "check_inbox",
        "read_email",
        "get_thread",
        "send_email",
        "reply_email",
        "schedule_email",
        "edit_scheduled_email",
        "cancel_message",
        "tag_email",
        "add_contact",
        "search_contacts",
        "wait_for_email",
        "download_attachment",
    ),
    "reviewer": ("list_pending", "decide_email", "read_email", "get_thread", "check_inbox"),
    # "admin" is every tool of the schema set; see resolve_tools.
}
PROFILE_NAMES = ("agent", "reviewer", "admin")


def resolve_tools(
    available: Iterable[str],
    *,
    profile: str | None = "agent",
    tools: Iterable[str] | None = None,
    allow_self_approval: bool = False,
) -> tuple[str, ...]:
    """The tool names a profile or an explicit list stands for, checked.

    ``tools``, when given, is used as is (each name must exist); otherwise ``profile``.
    A set that can both compose and approve is refused unless ``allow_self_approval``:
    MultiMail's oversight only means something when the approver is someone else.
    """
    known = tuple(available)
    if tools is not None:
        chosen = tuple(dict.fromkeys(tools))
        unknown = [name for name in chosen if name not in known]
        if unknown:
            raise ValueError(
                f"unknown tools: {', '.join(unknown)}; the schema set has: {', '.join(known)}"
            )
    elif profile == "admin":
        chosen = known
    elif profile is not None and profile in PROFILES:
        chosen = PROFILES[profile]
    else:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}")
    if not allow_self_approval and COMPOSE_TOOLS & set(chosen) and APPROVE_TOOLS & set(chosen):
        raise ValueError(
            "this tool set can both compose email and approve it "
            f"({', '.join(sorted((COMPOSE_TOOLS | APPROVE_TOOLS) & set(chosen)))}); "
            "give composing and approving to different assistants, or pass "
            "allow_self_approval=True if one assistant really should do both"
        )
    return chosen
