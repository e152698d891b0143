"""The pytest plugin the package registers: a ``mm_sandbox`` fixture.

Installing ``mm-assistants[sandbox]`` makes the fixture available in any test suite::

    def test_send(mm_sandbox):
        client = MultiMailClient(api_key=mm_sandbox.keys["send"], base_url=mm_sandbox.multimail_url)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mm_assistants.sandbox import Sandbox


@pytest.fixture
def mm_sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox on an ephemeral loopback port, stopped after the test."""
    from mm_assistants.sandbox import Sandbox  # imported late: the extra may be absent

    with Sandbox() as sandbox:
        yield sandbox
