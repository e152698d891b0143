"""A local MultiMail-compatible server and OpenAI-compatible emulator, on loopback.

The embedded default behind ``mm-assistants demo``, the end-to-end tests and the
benchmarks, and a tool for your own integration tests (extra ``sandbox``)::

    from mm_assistants.sandbox import Sandbox

    with Sandbox() as sb:
        sb.multimail_url, sb.openai_url   # point the clients here
        sb.keys["send"], sb.mailbox_id    # a seeded tenant with a gated_send mailbox

In pytest, ask for the ``mm_sandbox`` fixture. From a shell: ``mm-assistants sandbox``.
The sandbox is a server: it never imports the dispatcher, the drivers or the client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mm_assistants.sandbox.app import SandboxApp, create_sandbox_app
    from mm_assistants.sandbox.clock import SandboxClock
    from mm_assistants.sandbox.multimail_api import MultiMailSandboxSettings
    from mm_assistants.sandbox.openai_api import OpenAIEmulatorSettings
    from mm_assistants.sandbox.server import Sandbox

# Loaded on first use, so that importing one half (``sandbox.openai_api``) does not build
# the whole server, and ``import mm_assistants.sandbox`` stays cheap.
_EXPORTS = {
    "MultiMailSandboxSettings": "mm_assistants.sandbox.multimail_api",
    "OpenAIEmulatorSettings": "mm_assistants.sandbox.openai_api",
    "Sandbox": "mm_assistants.sandbox.server",
    "SandboxApp": "mm_assistants.sandbox.app",
    "SandboxClock": "mm_assistants.sandbox.clock",
    "create_sandbox_app": "mm_assistants.sandbox.app",
}

__all__ = [
    "MultiMailSandboxSettings",
    "OpenAIEmulatorSettings",
    "Sandbox",
    "SandboxApp",
    "SandboxClock",
    "create_sandbox_app",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
