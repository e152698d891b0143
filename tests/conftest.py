"""What every test shares: library state kept in the test's own folder."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

_COUNT = itertools.count()


@pytest.fixture(autouse=True)
def private_state_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A fresh ``MM_ASSISTANTS_STATE_DIR`` per test (the webhook receiver's default replay
    memory lives there), so no test writes to the user's home or sees another's deliveries.
    The folder is made only when something opens a file in it."""
    folder = tmp_path_factory.getbasetemp() / "state" / str(next(_COUNT))
    monkeypatch.setenv("MM_ASSISTANTS_STATE_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def no_mailbox_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dispatcher given no ``mailbox_id`` reads ``MULTIMAIL_MAILBOX_ID``: a developer who
    exported the sandbox's lines must not change what the tests' dispatchers may reach."""
    monkeypatch.delenv("MULTIMAIL_MAILBOX_ID", raising=False)
