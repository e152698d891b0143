"""Where a Responses conversation stands when the request sends its whole history.

Clients such as the Agents SDK send every item so far as ``input`` and no
``previous_response_id``. The emulator then finds its place in the script from the input
itself (`resume_point`):

1. Every output item the emulator makes is indexed by its id (a function call by its
   ``call_id``, a message by its ``id``), pointing to the stored response that made it.
   The newest such item in the input names the response this request continues: its
   script, its progress (including calls held back by ``parallel_tool_calls: false``) and
   its turn count carry on, exactly as ``previous_response_id`` would have.
2. Model turns in the input after that item (or in the whole input when no item is the
   emulator's: foreign ids, ``store: false``, an expired response) are counted, and the
   script moves on by that many slots: each run of consecutive ``function_call`` items is
   one tool round (one turn), each assistant message is one turn.

So a script continues instead of restarting, and a history the emulator cannot match
starts at the slot after the turns it shows (``Progress(position=turns)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mm_assistants.sandbox.openai_api.model import Progress

Item = dict[str, Any]
Lookup = Callable[[str], "dict[str, Any] | None"]  # an item id -> the stored response


@dataclass
class ResumePoint:
    """The conversation's place: ``progress``, ``turns`` taken, and the response it
    continues (``None`` when nothing in the input is the emulator's)."""

    progress: Progress
    turns: int
    source: dict[str, Any] | None = None


def item_key(item: Item) -> str | None:
    """The id under which an output item of the emulator is indexed (see the docstring)."""
    if item.get("type") == "function_call":
        key = item.get("call_id")
    elif item.get("type") == "message" and item.get("role") == "assistant":
        key = item.get("id")
    else:
        return None
    return key if isinstance(key, str) and key else None


def resume_point(items: Sequence[Item], lookup: Lookup) -> ResumePoint:
    """Where ``items`` (the request's whole input) leaves the script."""
    source: dict[str, Any] | None = None
    after = 0
    for index in range(len(items) - 1, -1, -1):
        key = item_key(items[index])
        found = lookup(key) if key else None
        if found is not None:
            source, after = found, index + 1
            break
    extra = count_turns(items[after:])
    if source is None:
        return ResumePoint(Progress(position=extra), extra)
    progress = Progress.load(source.get("_progress"))
    if extra:  # turns the emulator did not make: held calls are stale, move past them
        progress = Progress(position=progress.position + extra)
    return ResumePoint(progress, int(source.get("_turns", 0)) + extra, source)


def count_turns(items: Sequence[Item]) -> int:
    """Model turns in ``items``: tool rounds plus assistant messages."""
    turns = 0
    previous = None
    for item in items:
        kind = item.get("type")
        starts_round = kind == "function_call" and previous != "function_call"
        if starts_round or (kind == "message" and item.get("role") == "assistant"):
            turns += 1
        previous = kind
    return turns
