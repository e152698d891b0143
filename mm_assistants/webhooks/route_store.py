"""Moved: the inbound router's store lives in `mm_assistants.state` since issue 13 (the
protocol, its value types and both backends). This module keeps the old import path
working; every name read from it warns with a `DeprecationWarning` naming the new place.
"""

from mm_assistants._moved import moved_names

_NAMES = (
    "Admission",
    "InboundMessage",
    "MemoryRouteStore",
    "RouteStore",
    "SQLiteRouteStore",
    "open_route_store",
)

__getattr__ = moved_names(
    __name__,
    {
        **dict.fromkeys(_NAMES, "mm_assistants.state"),
        "DEFAULT_LEASE": "mm_assistants.state.routes",
        "DEFAULT_SEEN_LIMIT": "mm_assistants.state.routes",
    },
)
