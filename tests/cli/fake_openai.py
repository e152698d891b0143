"""An OpenAI client stand-in for CLI tests that replace the run driver: ``run`` retrieves
the assistant once to read the schema set and tool set it records, and nothing else."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


def recording(version: str | None = None, **recorded: str) -> Any:
    """A client whose every assistant records ``version`` (None: records nothing) and the
    other metadata pairs ``recorded`` (``mm_profile="signup"``), and which keeps the ids it
    was asked for in ``.retrieved``."""
    retrieved: list[str] = []

    def retrieve(assistant_id: str) -> Any:
        retrieved.append(assistant_id)
        metadata = {} if version is None else {"mm_schema_version": version}
        return SimpleNamespace(id=assistant_id, metadata={**metadata, **recorded}, tools=[])

    return SimpleNamespace(
        beta=SimpleNamespace(assistants=SimpleNamespace(retrieve=retrieve)), retrieved=retrieved
    )
