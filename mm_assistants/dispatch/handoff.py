"""Secrets in MultiMail's answers go to the operator, never to a model (the call of the
operator's callback; what counts as a secret is `mm_assistants.dispatch.withholding`).

Some answers carry a credential: ``activate_account`` and ``create_api_key`` a raw API key
(shown once), ``create_webhook`` the signing secret of its deliveries (shown once),
``get_billing_portal`` and ``upgrade_plan`` a signed billing link that acts for the
account. A model that reads one can repeat it into an email, and a prompt-injected model
will. So the dispatcher takes each such field out of the answer, hands its value to
``Dispatcher(on_secret=...)`` as a `SecretHandoff`, and the model reads a marker instead::

    {"api_key": {"withheld": "handed to the operator by the client library; ..."}}

With no ``on_secret`` configured these tools are refused before any request: the key of
``activate_account`` is shown once, and dropping it would lose it. For the same reason a
callback is never called and forgotten: `Dispatcher` refuses a coroutine function at
construction, `AsyncDispatcher` awaits what the callback returns (at most
`HANDOFF_TIMEOUT` seconds), and a handoff that did not finish is ``secret_handoff_failed``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from mm_assistants.dispatch.policy import Refusal
from mm_assistants.dispatch.withholding import (
    SECRET_FIELDS,
    WITHHELD,
    carries_secrets,
    mark_withheld,
    withhold,
)

LOGGER = logging.getLogger("mm_assistants.dispatch")

#: The longest `AsyncDispatcher` waits for an ``on_secret`` that returns an awaitable (a
#: vault write); past it the call is ``secret_handoff_failed`` and the model is told so.
HANDOFF_TIMEOUT: Final = 10.0


@dataclasses.dataclass(frozen=True)
class SecretHandoff:
    """One secret taken out of a tool's answer, for the operator.

    ``value`` is the secret itself (a string; a secret that was not one is given as its
    JSON text); ``repr`` and ``str`` never show it, so logging a handoff is safe (logging
    ``handoff.value`` is not). ``field`` is the answer's field, or its path when nested
    (``data.api_key``).
    """

    tool: str
    call_id: str
    field: str
    value: str = dataclasses.field(repr=False)

    def __str__(self) -> str:
        return f"{self.field} of {self.tool} (call {self.call_id})"


#: ``Dispatcher(on_secret=...)``: called once per withheld field, in the dispatching thread
#: (the event loop's, for `AsyncDispatcher`), so keep it short: store or forward the value.
#: `AsyncDispatcher` also takes an ``async def`` and awaits it; `Dispatcher` refuses one.
SecretCallback = Callable[[SecretHandoff], Awaitable[None] | None]


def is_async_callable(value: Any) -> bool:
    """True for an ``async def`` function, or an object whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(value) or inspect.iscoroutinefunction(
        getattr(value, "__call__", None)  # noqa: B004 -- the method itself is what is asked about
    )


def check_callback(on_secret: Any, *, awaits: bool = False) -> None:
    """Refuse an ``on_secret`` that cannot be called, or that a blocking dispatcher
    (``awaits=False``) would call without awaiting: a `TypeError` at construction, not a
    secret lost on the first answer that carries one."""
    if on_secret is None:
        return
    if not callable(on_secret):
        raise TypeError(f"on_secret must be a callable taking a SecretHandoff, not {on_secret!r}")
    if not awaits and is_async_callable(on_secret):
        raise TypeError(
            "on_secret is an async function, and Dispatcher calls it without awaiting, so "
            "the secret would be lost: pass a plain function (def, not async def) that "
            "stores the value, or use AsyncDispatcher, which awaits on_secret"
        )


def unavailable_refusal(tool: str) -> Refusal:
    """The refusal of a secret-bearing tool when the dispatcher has nowhere to put the secret."""
    return Refusal(
        "secret_handoff_unavailable",
        f"{tool} answers with a secret (an API key, a signing secret or a signed link) that "
        "must go to the operator, and this assistant has no way to hand it over; nothing "
        "was done. Ask the operator to do this themselves or to configure on_secret.",
    )


def failed_refusal(tool: str, field: str, error: BaseException | None) -> Refusal:
    """The refusal of a call whose secret did not reach the operator (``error``: what the
    callback raised, or ``None`` when it returned an awaitable nobody may await), logged
    by the exception's type only: its message might quote the secret."""
    why = "returned an awaitable" if error is None else type(error).__name__
    LOGGER.error("on_secret failed for %s of %s: %s", field, tool, why)
    return Refusal(
        "secret_handoff_failed",
        f"{tool} succeeded at MultiMail, but its {field} could not be handed to the "
        "operator and is not shown here. Tell the operator; do not retry on your own.",
        [{"field": field}],
    )


def handoffs_of(tool: str, call_id: str, withheld: Mapping[str, str]) -> list[SecretHandoff]:
    """One `SecretHandoff` per withheld field, in the answer's order."""
    return [SecretHandoff(tool, call_id, name, value) for name, value in withheld.items()]


def hand_over(
    callback: SecretCallback, tool: str, call_id: str, withheld: Mapping[str, str]
) -> Refusal | None:
    """Give each withheld value to ``callback``; one that raises, or returns an awaitable
    (an async callback slipped past construction: it would never run), is a refusal."""
    for handoff in handoffs_of(tool, call_id, withheld):
        try:
            returned = callback(handoff)
        except Exception as error:  # noqa: BLE001 -- any failure of user code is reported, never raised into the run
            return failed_refusal(tool, handoff.field, error)
        if inspect.isawaitable(returned):
            _discard(returned)
            return failed_refusal(tool, handoff.field, None)
    return None


async def hand_over_async(
    callback: SecretCallback,
    tool: str,
    call_id: str,
    withheld: Mapping[str, str],
    *,
    timeout: float | None = None,
) -> Refusal | None:
    """`hand_over` for `AsyncDispatcher`: an awaitable ``callback`` returns is awaited, at
    most ``timeout`` seconds (default `HANDOFF_TIMEOUT`) each."""
    limit = HANDOFF_TIMEOUT if timeout is None else timeout
    for handoff in handoffs_of(tool, call_id, withheld):
        try:
            returned = callback(handoff)
            if inspect.isawaitable(returned):
                await asyncio.wait_for(returned, limit)
        except Exception as error:  # noqa: BLE001 -- any failure of user code (a timeout too) is reported, never raised into the run
            return failed_refusal(tool, handoff.field, error)
    return None


def _discard(awaitable: Awaitable[Any]) -> None:
    # Closing a coroutine nobody will await keeps Python from warning about it later.
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


def withheld_or_refusal(
    callback: SecretCallback | None, tool: str, data: Any
) -> tuple[Any, dict[str, str]] | Refusal:
    """``data`` with its secrets withheld (see `withhold`) and the withheld values, or the
    refusal when there is nowhere to hand them (no callback: only a dispatcher changed
    after construction gets this far without one)."""
    data, withheld = withhold(tool, data)
    if withheld and callback is None:
        return unavailable_refusal(tool)
    return data, withheld


def pass_on(
    callback: SecretCallback | None, tool: str, call_id: str, data: Any
) -> tuple[Any, dict[str, str]] | Refusal:
    """``data`` with its secrets withheld and each handed to ``callback``, with the
    withheld fields; or the refusal when one could not be handed over."""
    passed = withheld_or_refusal(callback, tool, data)
    if isinstance(passed, Refusal) or not passed[1] or callback is None:
        return passed
    refusal = hand_over(callback, tool, call_id, passed[1])
    return passed if refusal is None else refusal


async def pass_on_async(
    callback: SecretCallback | None, tool: str, call_id: str, data: Any
) -> tuple[Any, dict[str, str]] | Refusal:
    """`pass_on` for `AsyncDispatcher` (see `hand_over_async`)."""
    passed = withheld_or_refusal(callback, tool, data)
    if isinstance(passed, Refusal) or not passed[1] or callback is None:
        return passed
    refusal = await hand_over_async(callback, tool, call_id, passed[1])
    return passed if refusal is None else refusal


__all__ = [
    "HANDOFF_TIMEOUT",
    "SECRET_FIELDS",
    "WITHHELD",
    "SecretCallback",
    "SecretHandoff",
    "carries_secrets",
    "check_callback",
    "failed_refusal",
    "hand_over",
    "hand_over_async",
    "handoffs_of",
    "is_async_callable",
    "mark_withheld",
    "pass_on",
    "pass_on_async",
    "unavailable_refusal",
    "withheld_or_refusal",
    "withhold",
]
