"""The webhooks' documentation sits on the names it describes (issue 13, item 9)."""

from __future__ import annotations

import inspect

import mm_assistants.webhooks as webhooks
from mm_assistants.webhooks import parse_event

# What the payload spec says, once, on parse_event.
SPEC_TERMS = (
    "envelope",
    "flat",
    "event_type",
    "X-MultiMail-Event",
    "email_id",
    "authentication_results",
    "unix seconds",
    "WebhookPayloadError",
)


def test_the_payload_spec_is_on_parse_event() -> None:
    doc = inspect.getdoc(parse_event) or ""
    assert [term for term in SPEC_TERMS if term not in doc] == []


def test_the_package_docstring_stays_short_and_points_to_parse_event() -> None:
    doc = webhooks.__doc__ or ""
    assert "authentication_results" not in doc
    assert "parse_event" in doc
    assert len(doc.strip().splitlines()) <= 25
