"""The receiver's replay memory: the default file, or the store it is given. (The stores
themselves are the contract in ``tests/state``.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mm_assistants.state import (
    STATE_DIR_ENV,
    MemorySeenStore,
    SQLiteSeenStore,
    default_seen_path,
)
from mm_assistants.webhooks import WebhookReceiver


def test_a_receiver_opens_the_default_file_or_the_store_it_is_given(tmp_path: Path) -> None:
    receiver = WebhookReceiver("whsec_x")
    assert isinstance(receiver.replay_guard, SQLiteSeenStore)
    assert receiver.replay_guard.path == str(default_seen_path())
    assert Path(os.environ[STATE_DIR_ENV]).is_dir()
    given = MemorySeenStore()
    assert WebhookReceiver("whsec_x", replay_guard=given).replay_guard is given
    path = WebhookReceiver("whsec_x", replay_guard=tmp_path / "x.db").replay_guard
    assert isinstance(path, SQLiteSeenStore)
    with pytest.raises(TypeError, match="SeenDeliveries"):
        WebhookReceiver("whsec_x", replay_guard=42)  # type: ignore[arg-type]
