"""Old import paths that keep working after a name or a module moved.

A module that moved leaves a shim behind whose attributes come from the new module, each
with a `DeprecationWarning` naming the new path::

    # mm_assistants/webhooks/router.py
    __getattr__ = moved_module(__name__, "mm_assistants.inbound.router")

A package whose names moved serves them the same way, importing the new home only when a
name is asked for (so importing the package loads nothing it no longer needs)::

    __getattr__ = moved_names(__name__, {"InboundRouter": "mm_assistants.inbound"})

A name that was renamed as it moved is served under its old name, the warning naming the
new one::

    # mm_assistants/dispatch/client_side.py
    __getattr__ = moved_module(
        __name__, "mm_assistants.dispatch.multistep_tools", {"wait_sync": "wait_for_email_sync"}
    )

This module imports nothing of the package: every package may use it.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def moved_module(
    old: str, new: str, renamed: Mapping[str, str] | None = None
) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for the module ``old``, whose contents now live in
    ``new``: every name ``new`` has is served, the same object, with a warning; ``renamed``
    maps an old name to the one it has in ``new``."""
    renames = dict(renamed or {})
    return _serve(old, lambda name: new, renames.get)


def moved_names(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package`` serving each name of ``table`` from
    the module it maps to, with a `DeprecationWarning` saying where to import it from."""
    return _serve(package, table.get)


def _serve(
    package: str,
    home_of: Callable[[str], str | None],
    renamed: Callable[[str], str | None] = lambda name: None,
) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        # Dunder probes (copy, pickle, inspect, pytest) are not old names: answer at once.
        new = None if name.startswith("__") else home_of(name)
        new_name = renamed(name) or name
        value = (
            _MISSING if new is None else getattr(importlib.import_module(new), new_name, _MISSING)
        )
        if value is _MISSING:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        what = "it" if new_name == name else new_name
        warnings.warn(
            f"{package}.{name} moved: import {what} from {new}",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__


_MISSING = object()
