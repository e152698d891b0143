"""One clear warning about the Assistants API's shutdown, instead of one per SDK call.

The openai SDK marks every ``client.beta.assistants``/``threads``/``runs`` method as
deprecated and warns on each call; a driver makes dozens of them per run. The library
silences those inside its own calls and warns once per process with its own message.
"""

from __future__ import annotations

import inspect
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class AssistantsSunsetWarning(FutureWarning):
    """OpenAI shut down its hosted Assistants API on 2026-08-26."""


MESSAGE = (
    "OpenAI shut down its hosted Assistants API on 2026-08-26. mm-assistants' Assistants "
    "support serves Assistants-compatible servers (Azure deployments, self-hosted and local "
    "emulators); for OpenAI itself use ResponsesDriver, the path OpenAI recommends."
)

_lock = threading.Lock()
_warned = False


def warn_once(stacklevel: int = 3) -> None:
    """Emit `AssistantsSunsetWarning` the first time only."""
    global _warned
    with _lock:
        if _warned:
            return
        _warned = True
    warnings.warn(MESSAGE, AssistantsSunsetWarning, stacklevel=stacklevel)


def reset() -> None:
    """Forget that the warning was shown (for tests)."""
    global _warned
    with _lock:
        _warned = False


def call_assistants(method: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call an SDK Assistants method with one warning of our own instead of the SDK's.

    The SDK's methods are wrapped by ``typing_extensions.deprecated``, which keeps the
    original as ``__wrapped__``; calling the innermost original skips the per-call warning without
    touching the process's warning filters (``catch_warnings`` is not thread-safe). An SDK
    that stops wrapping this way still works: its own warning then shows.
    """
    warn_once(stacklevel=3)
    owner = getattr(method, "__self__", None)
    # Some methods stack another wrapper (argument checks) on top of the deprecation one.
    original = inspect.unwrap(method) if hasattr(method, "__wrapped__") else None
    if original is not None and owner is not None:
        result: T = original(owner, *args, **kwargs)
        return result
    return method(*args, **kwargs)
