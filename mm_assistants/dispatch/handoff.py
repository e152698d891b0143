"""Secrets in MultiMail's answers go to the operator, never to a model (pure, plus the call
of the operator's callback).

Some answers carry a credential: ``activate_account`` and ``create_api_key`` a raw API key
(shown once), ``get_billing_portal`` and ``upgrade_plan`` a signed billing link that acts
for the account. A model that reads one can repeat it into an email, and a prompt-injected
model will. So the dispatcher takes each such field out of the answer, hands its value to
``Dispatcher(on_secret=...)`` as a `SecretHandoff`, and the model reads a marker instead::

    {"api_key": {"withheld": "handed to the operator by the client library; ..."}}

With no ``on_secret`` configured these tools are refused before any request: the key of
``activate_account`` is shown once, and dropping it would lose it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from mm_assistants.dispatch.policy import Refusal

LOGGER = logging.getLogger("mm_assistants.dispatch")

#: Tool -> the top-level answer fields that hold a secret (the first is MultiMail's name;
#: the rest are spellings an API version might use, withheld just the same).
SECRET_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "activate_account": ("api_key",),
    "create_api_key": ("api_key", "key"),
    "get_billing_portal": ("portal_url", "url"),
    "upgrade_plan": ("checkout_url", "url"),
}
#: What the model reads in a secret's place.
WITHHELD: Final[Mapping[str, str]] = {
    "withheld": "handed to the operator by the client library; never shown to a model"
}
_SCRUBBED = "[withheld]"


@dataclasses.dataclass(frozen=True)
class SecretHandoff:
    """One secret taken out of a tool's answer, for the operator.

    ``value`` is the secret itself; ``repr`` and ``str`` never show it, so logging a
    handoff is safe (logging ``handoff.value`` is not).
    """

    tool: str
    call_id: str
    field: str
    value: str = dataclasses.field(repr=False)

    def __str__(self) -> str:
        return f"{self.field} of {self.tool} (call {self.call_id})"


#: ``Dispatcher(on_secret=...)``: called once per withheld field, in the dispatching thread
#: (the event loop's, for `AsyncDispatcher`), so keep it short: store or forward the value.
SecretCallback = Callable[[SecretHandoff], None]


def check_callback(on_secret: Any) -> None:
    """Refuse an ``on_secret`` that cannot be called: a `TypeError` at construction, not a
    secret lost on the first answer that carries one."""
    if on_secret is not None and not callable(on_secret):
        raise TypeError(f"on_secret must be a callable taking a SecretHandoff, not {on_secret!r}")


def carries_secrets(tool: str) -> bool:
    """True when ``tool``'s answer may hold a secret the model must not read."""
    return tool in SECRET_FIELDS


def unavailable_refusal(tool: str) -> Refusal:
    """The refusal of a secret-bearing tool when the dispatcher has nowhere to put the secret."""
    return Refusal(
        "secret_handoff_unavailable",
        f"{tool} answers with a secret (an API key or a signed link) that must go to the "
        "operator, and this assistant has no way to hand it over; nothing was done. Ask "
        "the operator to do this themselves or to configure on_secret.",
    )


def withhold(tool: str, data: Any) -> tuple[Any, dict[str, str]]:
    """``data`` without its secret fields (and without their values anywhere else in it),
    and the withheld values by field."""
    names = SECRET_FIELDS.get(tool, ())
    if not names or not isinstance(data, Mapping):
        return data, {}
    found = {
        name: value if isinstance(value, str) else str(value)
        for name in names
        if (value := data.get(name)) is not None
    }
    rest = {key: value for key, value in data.items() if key not in found}
    # An answer that also echoes the secret elsewhere (a hint, a message) loses it there.
    return _scrub(rest, tuple(value for value in found.values() if value)), found


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, _SCRUBBED)
        return value
    if isinstance(value, Mapping):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    return value


def mark_withheld(shaped: Any, withheld: Mapping[str, str]) -> Any:
    """The shaped output with a marker, in plain view, where each withheld field was."""
    if not withheld or not isinstance(shaped, dict):
        return shaped
    return {**shaped, **{name: dict(WITHHELD) for name in withheld}}


def hand_over(
    callback: SecretCallback, tool: str, call_id: str, withheld: Mapping[str, str]
) -> Refusal | None:
    """Give each withheld value to ``callback``; a callback that raises is logged (its
    exception's type only: the message might quote the secret) and becomes a refusal."""
    for name, value in withheld.items():
        try:
            callback(SecretHandoff(tool=tool, call_id=call_id, field=name, value=value))
        except Exception as error:  # noqa: BLE001 -- any failure of user code is reported, never raised into the run
            LOGGER.error(
                "on_secret failed for %s of %s (call %s): %s",
                name,
                tool,
                call_id,
                type(error).__name__,
            )
            return Refusal(
                "secret_handoff_failed",
                f"{tool} succeeded at MultiMail, but its {name} could not be handed to the "
                "operator and is not shown here. Tell the operator; do not retry on your own.",
                [{"field": name}],
            )
    return None


def pass_on(
    callback: SecretCallback | None, tool: str, call_id: str, data: Any
) -> tuple[Any, dict[str, str]] | Refusal:
    """``data`` with its secrets withheld (see `withhold`) and each handed to ``callback``,
    with the withheld fields; or the refusal when one could not be handed over (no
    callback: only a dispatcher changed after construction gets this far without one)."""
    data, withheld = withhold(tool, data)
    if not withheld:
        return data, withheld
    if callback is None:
        return unavailable_refusal(tool)
    refusal = hand_over(callback, tool, call_id, withheld)
    return (data, withheld) if refusal is None else refusal


__all__ = [
    "SECRET_FIELDS",
    "WITHHELD",
    "SecretCallback",
    "SecretHandoff",
    "carries_secrets",
    "check_callback",
    "hand_over",
    "mark_withheld",
    "pass_on",
    "unavailable_refusal",
    "withhold",
]
