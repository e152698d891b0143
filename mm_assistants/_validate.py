"""The rules every configuration value of the library is checked by, written once.

Policies (`ApprovalPolicy`, `PollPolicy`, `RetryPolicy`) and the constructors of the
dispatchers and drivers check their values here, so they all accept the same things and say
so in the same words: ``Owner.field must be <rule>, got <value>``.

- A number is an ``int`` or a ``float``, finite (NaN and infinities are refused), and never a
  ``bool`` (``True`` is an ``int`` to Python, but ``max_wait=True`` is a mistake).
- A switch is ``True`` or ``False``; a number in its place is a `TypeError`.
- Sync and async parts do not mix: a blocking class handed an object whose methods must be
  awaited (or the reverse) is refused at construction, where the mistake was made, instead of
  failing mid-run on a coroutine nobody awaited.

Bad values are `ValueError`s, a wrong kind of part a `TypeError` (style rule 4: the caller
misused the library). This module imports nothing of the package, so every package may
import it.
"""

from __future__ import annotations

import inspect
import math
from typing import Literal

Flavour = Literal["sync", "async"]


def number(
    owner: str,
    name: str,
    value: object,
    *,
    minimum: float = 0.0,
    above: bool = False,
    maximum: float | None = None,
    note: str = "",
) -> float:
    """``value`` if it is a finite number ``>= minimum`` (``> minimum`` with ``above``) and,
    when given, ``<= maximum``; else a `ValueError` naming ``owner.name``.

    Example::

        number("PollPolicy", "max_interval", 2.0, above=True)    # 2.0
        number("ApprovalPolicy", "margin", float("nan"))        # ValueError
    """
    bound = f"> {minimum:g}" if above else f">= {minimum:g}"
    rule = f"between {minimum:g} and {maximum:g}" if maximum is not None else bound
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(_message(owner, name, f"a finite number {rule}", value, note))
    too_low = value <= minimum if above else value < minimum
    if too_low or (maximum is not None and value > maximum):
        raise ValueError(_message(owner, name, rule, value, note))
    return value


def optional_number(
    owner: str, name: str, value: object, *, minimum: float = 0.0, above: bool = False
) -> float | None:
    """`number`, with ``None`` (not set) let through."""
    return None if value is None else number(owner, name, value, minimum=minimum, above=above)


def whole(owner: str, name: str, value: object, *, minimum: int, note: str = "") -> int:
    """``value`` if it is an ``int`` (not a ``bool``) ``>= minimum``; else a `ValueError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(_message(owner, name, f"an integer >= {minimum}", value, note))
    return value


def switch(owner: str, name: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False``; else a `TypeError` (a number where a switch
    belongs usually means a positional argument landed in the wrong place)."""
    if not isinstance(value, bool):
        raise TypeError(_message(owner, name, "True or False", value, ""))
    return value


def flavour_of(value: object, method: str) -> Flavour | None:
    """Whether ``value``'s ``method`` (a dotted path, e.g. ``"responses.create"``) must be
    awaited (``"async"``), is a plain function (``"sync"``), or cannot tell (``None``: a
    missing attribute, a mock, any other callable): only a clear mismatch is refused."""
    target: object = value
    for part in method.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            return None
    if inspect.iscoroutinefunction(target):
        return "async"
    if inspect.ismethod(target) or inspect.isfunction(target):
        return "sync"
    return None


def refuse_mix(
    owner: str, role: str, value: object, *, found: Flavour | None, wanted: Flavour, instead: str
) -> None:
    """A `TypeError` when ``value`` (the ``role`` part of ``owner``) is ``found`` to be of
    the other flavour than ``wanted``; ``instead`` says what to pass (or use) instead.

    Example message::

        AssistantsRunDriver blocks and cannot use an AsyncDispatcher as its dispatcher: pass
        a Dispatcher, or use AsyncAssistantsRunDriver under asyncio
    """
    if found is None or found == wanted:
        return
    kind = "blocks" if wanted == "sync" else "awaits its I/O"
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    raise TypeError(f"{owner} {kind} and cannot use {article} {name} as its {role}: {instead}")


def _message(owner: str, name: str, rule: str, value: object, note: str) -> str:
    extra = f" ({note})" if note else ""
    return f"{owner}.{name} must be {rule}{extra}, got {value!r}"
