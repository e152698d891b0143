"""Deprecated: moved to `mm_assistants.tools.compiled_check`
(issue 13: one naming convention, see CONTRIBUTING.md). Importing a name from here
still works and warns.

`tools` is a floor of the arrow table (it imports nothing of the package but itself), so
this shim does by hand what `mm_assistants._moved.moved_module` does for the others.
"""

from __future__ import annotations

import warnings
from typing import Any

from mm_assistants.tools import compiled_check


def __getattr__(name: str) -> Any:
    value = None if name.startswith("__") else getattr(compiled_check, name, None)
    if value is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"{__name__}.{name} moved: import it from mm_assistants.tools.compiled_check",
        DeprecationWarning,
        stacklevel=2,
    )
    return value
