"""The ``mm_sandbox`` pytest fixture, registered through the ``pytest11`` entry point.

Installing mm-assistants with the ``sandbox`` extra makes the fixture available in any
test suite: each test that asks for it gets a fresh `Sandbox` on a free loopback port,
stopped and wiped when the test ends.

Example::

    def test_my_agent_replies(mm_sandbox):
        mm_sandbox.multimail.inject_inbound(sender="ana@example.com", subject="Hi",
                                            markdown="Can we meet?")
        client = MultiMailClient(api_key=mm_sandbox.keys["send"],
                                 base_url=mm_sandbox.multimail_url)
        ...

The sandbox carries its control token: a test that calls the HTTP controls sends
``mm_sandbox.control_headers`` (the Python handles need none)::

    httpx.post(f"{mm_sandbox.base_url}/sandbox/faults", headers=mm_sandbox.control_headers,
               json={"route": "*", "status": 503, "next_n": 1})

Override ``mm_sandbox_options`` in a ``conftest.py`` to pass arguments to `Sandbox`::

    @pytest.fixture
    def mm_sandbox_options():
        return {"multimail_settings": MultiMailSandboxSettings(scan_delay=0.0)}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mm_assistants.sandbox.server import Sandbox


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    """Keyword arguments for the `Sandbox` behind ``mm_sandbox`` (none by default)."""
    return {}


@pytest.fixture
def mm_sandbox(mm_sandbox_options: dict[str, Any]) -> Iterator[Sandbox]:
    """A running `Sandbox` for one test: fresh data, a free loopback port."""
    # imported here so that a suite without the sandbox extra still loads this plugin
    from mm_assistants.sandbox.server import Sandbox

    with Sandbox(**mm_sandbox_options) as sandbox:
        yield sandbox
