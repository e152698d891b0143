"""What users write today, against the same sandbox: nothing here imports mm_assistants.

- `hand_call`: one hand-written httpx call per tool (the dispatch-overhead baseline);
- `seed_loop`: the seed examples' raw HTTP wrapper, sequential tool loop and 1-second poll;
- `sdk_helpers`: the openai SDK's ``create_and_poll`` / ``submit_tool_outputs_and_poll``;
- `seed_approval`: the seeds' wait for a human's approval, a GET every 5 seconds.
"""

from __future__ import annotations

from typing import NamedTuple


class Account(NamedTuple):
    """Where a hand-written wrapper sends its requests (the seeds keep these in constants)."""

    base_url: str
    api_key: str
    mailbox_id: str
