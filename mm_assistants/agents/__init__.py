"""MultiMail tools for the ``openai-agents`` SDK (the ``agents`` extra).

`multimail_tools` turns a dispatcher's tools into ``agents.FunctionTool`` objects; see
`mm_assistants.agents.tools`. Parking a run while a human decides is not available here:
`PARKING_UNSUPPORTED` says why and what to do instead.
"""

from __future__ import annotations

try:
    import agents as _agents_sdk  # noqa: F401 -- fail here, with the extra to install
except ImportError as exc:  # pragma: no cover - exercised without the extra only
    raise ImportError(
        "mm_assistants.agents needs the openai-agents SDK: pip install 'mm-assistants[agents]'",
        name=exc.name,
    ) from exc

from mm_assistants.agents.plan import PARKING_UNSUPPORTED
from mm_assistants.agents.tools import multimail_tools

__all__ = ["PARKING_UNSUPPORTED", "multimail_tools"]
