"""Named tool sets per schema version, and the rule that one assistant never both composes
and approves.

=============  ====================================================================
profile        tools (``v1``; ``v2`` adds what is marked)
=============  ====================================================================
``agent``      the inbox assistant's tools; v2 adds ``report_spam``
``reviewer``   the approval queue and what a decision needs; v2 adds ``list_spam``
``signup``     v2 only: ``request_challenge``, ``create_account``,
               ``activate_account``, ``resend_confirmation``
``admin``      every tool of the schema set
=============  ====================================================================

``not_spam`` is in no named profile but ``admin``. Quarantine does not hide mail from a
model: a quarantined email stays readable by id and in its thread, framed as untrusted with
its ``spam_quarantined`` status in plain view. What ``not_spam`` does is lift MultiMail's
spam verdict and return the mail to the unread inbox, where inbound routing and every
assistant treat it as ordinary mail; that is what a hostile email would ask a
prompt-injected model to do, so a human or an explicit ``tools=[...]`` list decides.
Billing and account creation never go to ``agent`` or ``reviewer``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

#: Tools that put a message on its way out.
COMPOSE_TOOLS = frozenset({"send_email", "reply_email", "schedule_email", "edit_scheduled_email"})
#: Tools that decide on held messages.
APPROVE_TOOLS = frozenset({"decide_email"})

_AGENT_V1 = (
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
)
_REVIEWER_V1 = ("list_pending", "decide_email", "read_email", "get_thread", "check_inbox")

#: Named profiles of each schema version ("admin", every tool of the set, is not listed:
#: see `resolve_tools`). A version's profiles never change once released: an assistant
#: built on a profile must not gain tools silently.
PROFILES_BY_VERSION: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "v1": MappingProxyType({"agent": _AGENT_V1, "reviewer": _REVIEWER_V1}),
        "v2": MappingProxyType(
            {
                # Reporting spam takes mail out of the inbox and of inbound routing (it
                # stays readable, marked quarantined); the worst a hostile email can get
                # from it is a real message quarantined until a human restores it.
                "agent": (*_AGENT_V1, "report_spam"),
                # The quarantine listing (framed untrusted) for a human-facing reviewer.
                "reviewer": (*_REVIEWER_V1, "list_spam"),
                "signup": (
                    "request_challenge",
                    "create_account",
                    "activate_account",
                    "resend_confirmation",
                ),
            }
        ),
    }
)
#: The ``v1`` profiles, as this name always held them.
PROFILES: Mapping[str, tuple[str, ...]] = PROFILES_BY_VERSION["v1"]
#: Every profile name of any version ("signup" exists from ``v2`` on).
PROFILE_NAMES = ("agent", "reviewer", "signup", "admin")


def profiles_of(version: str) -> Mapping[str, tuple[str, ...]]:
    """The named profiles of schema ``version`` (``admin`` aside), or a `ValueError`."""
    try:
        return PROFILES_BY_VERSION[version]
    except KeyError:
        known = ", ".join(PROFILES_BY_VERSION)
        raise ValueError(
            f"no named profiles are defined for schema version {version!r} (known: {known}); "
            "pass tools=[...] or profile='admin'"
        ) from None


def resolve_tools(
    available: Iterable[str],
    *,
    profile: str | None = "agent",
    tools: Iterable[str] | None = None,
    allow_self_approval: bool = False,
    version: str = "v1",
) -> tuple[str, ...]:
    """The tool names a profile of schema ``version`` or an explicit list stands for, checked.

    ``tools``, when given, is used as is (each name must exist); otherwise ``profile``.
    A set that can both compose and approve is refused unless ``allow_self_approval``:
    MultiMail's oversight only means something when the approver is someone else.

    >>> resolve_tools(["request_challenge"], profile="signup", version="v1")
    Traceback (most recent call last):
    ...
    ValueError: the profile 'signup' exists from schema version v2 on; load_registry("v2")
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
    elif profile is not None and profile in PROFILE_NAMES:
        named = profiles_of(version)
        if profile not in named:
            since = next(v for v, table in PROFILES_BY_VERSION.items() if profile in table)
            raise ValueError(
                f"the profile {profile!r} exists from schema version {since} on; "
                f'load_registry("{since}")'
            )
        chosen = named[profile]
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
