"""A MultiMail-compatible API server (the sandbox's email half), on SQLite.

It answers MultiMail's paths with MultiMail's statuses, shapes and error texts
(``{"error": ...}``), enforces key scopes, tenant isolation and the oversight modes
(a gated send is held for a human's decision), settles email statuses lazily against an
injectable clock, and emits webhook events to an `EventSink`. Sandbox-only controls live
under ``/sandbox`` (see `mm_assistants.sandbox.multimail_api.control`).

Example::

    app = create_multimail_app(db_path="mm.db", clock=SandboxClock(),
                               settings=MultiMailSandboxSettings(scan_delay=0.5))
    control = app.state.multimail_sandbox
    control.inject_inbound(sender="ann@example.com", subject="Hello", markdown="Hi!")
"""

from mm_assistants.sandbox.multimail_api.app import create_multimail_app
from mm_assistants.sandbox.multimail_api.control import MultiMailControl
from mm_assistants.sandbox.multimail_api.events import WEBHOOK_EVENTS, EventSink
from mm_assistants.sandbox.multimail_api.recording import RecordedEvent, RecordingSink
from mm_assistants.sandbox.multimail_api.seed import SandboxSeed
from mm_assistants.sandbox.multimail_api.settings import APPROVAL_FLOWS, MultiMailSandboxSettings

__all__ = [
    "APPROVAL_FLOWS",
    "WEBHOOK_EVENTS",
    "EventSink",
    "MultiMailControl",
    "MultiMailSandboxSettings",
    "RecordedEvent",
    "RecordingSink",
    "SandboxSeed",
    "create_multimail_app",
]
