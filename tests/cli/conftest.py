"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import pytest

from mm_assistants.sandbox import Sandbox


@pytest.fixture
def pointed(mm_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The sandbox, with the environment pointing the command (and the SDKs) at it."""
    for name, value in mm_sandbox.environment().items():
        monkeypatch.setenv(name, value)
    return mm_sandbox
