"""Webhooks stand apart from inbound routing (issue 13, item 1): verifying and receiving a
delivery loads neither the drivers nor the dispatcher, and the names and modules that moved
to `mm_assistants.inbound` keep working from their old paths, with a warning."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import textwrap

import pytest

import mm_assistants.inbound as inbound

# What a webhook-only process must not load (the router's world).
ABOVE = ("mm_assistants.inbound", "mm_assistants.drivers", "mm_assistants.dispatch")


def test_verifying_and_receiving_load_no_driver_nor_dispatcher() -> None:
    code = textwrap.dedent(
        f"""
        import hashlib, hmac, json, sys, time
        import mm_assistants.webhooks as webhooks
        from mm_assistants.webhooks import MemorySeenStore, WebhookReceiver, verify_signature
        from mm_assistants.webhooks.starlette import webhook_route

        body = json.dumps({{"id": "evt_1", "event": "message.received",
                           "timestamp": int(time.time()), "data": {{"email_id": "e_1"}}}})
        raw = body.encode()
        signature = "sha256=" + hmac.new(b"whsec_1", raw, hashlib.sha256).hexdigest()
        delivery = verify_signature(raw, {{"X-MultiMail-Signature": signature}}, "whsec_1")
        receiver = WebhookReceiver("whsec_1", replay_guard=MemorySeenStore())
        handled = receiver.receive(raw, {{"X-MultiMail-Signature": signature}})
        webhook_route(receiver)
        assert delivery.event is None and handled.route is None and not handled.errors
        print(json.dumps(sorted(name for name in {ABOVE!r} if name in sys.modules)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


# Each module kept its name in its new package.
MOVED_MODULES = [
    pytest.param(module, name, id=f"{module}.{name}")
    for module, names in [
        ("router", ["InboundRouter"]),
        ("router_async", ["AsyncInboundRouter"]),
        ("router_base", ["RouterCore"]),
        ("routing", ["RouteResult", "notice", "screen", "hold_call", "Admitted"]),
        ("trust", ["TrustPolicy", "TrustVerdict"]),
        ("flood", ["InboundLimits", "RateLimit", "FloodGate", "queue_full"]),
    ]
    for name in names
]


# router_base was renamed again in inbound (item 6's naming convention: inbound.core).
NOW_NAMED = {"router_base": "core"}


@pytest.mark.parametrize(("module", "name"), MOVED_MODULES)
def test_a_moved_module_still_serves_its_names_with_a_warning(module: str, name: str) -> None:
    shim = importlib.import_module(f"mm_assistants.webhooks.{module}")
    home = NOW_NAMED.get(module, module)
    with pytest.warns(DeprecationWarning, match=rf"mm_assistants\.inbound\.{home}\b"):
        value = getattr(shim, name)
    assert value is getattr(importlib.import_module(f"mm_assistants.inbound.{home}"), name)


def test_a_moved_module_names_what_it_lacks_plainly() -> None:
    shim = importlib.import_module("mm_assistants.webhooks.router")
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        shim.Nothing  # noqa: B018 -- the attribute access is the test


MOVED_NAMES = [
    "AsyncInboundRouter",
    "InboundLimits",
    "InboundRouter",
    "RateLimit",
    "RouteResult",
    "TrustPolicy",
    "TrustVerdict",
    "notice",
]


STORE_NAMES = ["InboundMessage", "MemoryRouteStore", "RouteStore", "SQLiteRouteStore"]


@pytest.mark.parametrize(
    ("name", "home"),
    [(name, "mm_assistants.inbound") for name in MOVED_NAMES]
    + [(name, "mm_assistants.state") for name in STORE_NAMES],
)
def test_a_moved_name_is_still_importable_from_webhooks(name: str, home: str) -> None:
    scope: dict[str, object] = {}
    with pytest.warns(DeprecationWarning, match=re.escape(home)):
        exec(f"from mm_assistants.webhooks import {name} as value", globals(), scope)
    assert scope["value"] is getattr(importlib.import_module(home), name)
    assert scope["value"] is getattr(inbound, name)  # inbound offers the route store too


def test_the_webhooks_package_lists_only_what_it_still_holds() -> None:
    import mm_assistants.webhooks as webhooks

    assert not {*MOVED_NAMES, *STORE_NAMES} & set(webhooks.__all__)
    assert {*MOVED_NAMES, *STORE_NAMES} <= set(inbound.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        webhooks.Nothing  # noqa: B018 -- the attribute access is the test


def test_a_dunder_probe_is_not_an_old_name() -> None:
    shim = importlib.import_module("mm_assistants.webhooks.trust")
    assert not hasattr(shim, "__wrapped__")  # no import, no warning (filterwarnings=error)
