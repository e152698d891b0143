"""Old import paths that keep working after a name or a module moved.

A module that moved leaves a shim behind whose attributes come from the new module, each
with a `DeprecationWarning` naming the new path::

    # mm_assistants/webhooks/router.py
    __getattr__ = moved_module(__name__, "mm_assistants.inbound.router")

A package whose names moved serves them the same way, importing the new home only when a
name is asked for (so importing the package loads nothing it no longer needs)::

    __getattr__ = moved_names(__name__, {"InboundRouter": "mm_assistants.inbound"})

This module imports nothing of the package: every package may use it.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def moved_module(old: str, new: str) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for the module ``old``, whose contents now live in
    ``new``: every name ``new`` has is served, the same object, with a warning."""
    return _serve(old, lambda name: new)


def moved_names(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package`` serving each name of ``table`` from
    the module it maps to, with a `DeprecationWarning` saying where to import it from."""
    return _serve(package, table.get)


def _serve(package: str, home_of: Callable[[str], str | None]) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        # Dunder probes (copy, pickle, inspect, pytest) are not old names: answer at once.
        new = None if name.startswith("__") else home_of(name)
        value = _MISSING if new is None else getattr(importlib.import_module(new), name, _MISSING)
        if value is _MISSING:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        warnings.warn(
            f"{package}.{name} moved: import it from {new}",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__


_MISSING = object()
