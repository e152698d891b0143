"""Moved: `SQLitePendingStore` lives in `mm_assistants.state` since issue 13 (the SQLite
backends are written once, in `mm_assistants.state.sqlite`). This module keeps the old
import path working; the name read from it warns with a `DeprecationWarning`.
"""

from mm_assistants._moved import moved_names

__getattr__ = moved_names(__name__, {"SQLitePendingStore": "mm_assistants.state"})
