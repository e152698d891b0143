"""The dispatch-overhead baseline: the tool call a user writes by hand with httpx.

The request, status check and JSON round trip a hand-written tool function does, and no
more: no argument validation, no mailbox scope, no retries, no output shaping.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from bench.baselines import Account


def send_email(http: httpx.Client, account: Account, body: dict[str, Any]) -> str:
    """``POST /v1/mailboxes/{id}/send`` with ``body``; the answer as JSON text."""
    response = http.post(
        f"{account.base_url}/v1/mailboxes/{account.mailbox_id}/send",
        json=body,
        headers={"Authorization": f"Bearer {account.api_key}"},
    )
    response.raise_for_status()
    return json.dumps(response.json())


def read_email(http: httpx.Client, account: Account, email_id: str) -> str:
    """``GET /v1/mailboxes/{id}/emails/{email_id}``; the answer as JSON text."""
    response = http.get(
        f"{account.base_url}/v1/mailboxes/{account.mailbox_id}/emails/{email_id}",
        headers={"Authorization": f"Bearer {account.api_key}"},
    )
    response.raise_for_status()
    return json.dumps(response.json())
