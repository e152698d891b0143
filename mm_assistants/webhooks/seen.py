"""Moved: the webhook receiver's replay memory lives in `mm_assistants.state` since issue 13
(the protocol, both backends, the default file's location). This module keeps the old
import path working; every name read from it warns with a `DeprecationWarning` naming the
new place.
"""

from mm_assistants._moved import moved_names

__getattr__ = moved_names(
    __name__,
    {
        **dict.fromkeys(
            (
                "MemorySeenStore",
                "SEEN_FILE",
                "SQLiteSeenStore",
                "STATE_DIR_ENV",
                "SeenDeliveries",
                "default_seen_path",
                "open_seen_store",
            ),
            "mm_assistants.state",
        ),
        "DEFAULT_MAX_ENTRIES": "mm_assistants.state.seen",
    },
)
