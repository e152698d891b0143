"""The seeds' wait for a human's approval: send, then look at the email every 5 seconds.

What the published examples teach for a ``gated_send`` mailbox: one raw POST to send, and,
while the answer says the message is held, ``time.sleep(5)`` then one GET of the message,
until its status is no longer pending; whatever it then says becomes the tool output. Each
request is made on a fresh connection, as ``requests.get`` makes it. Only the paths are
MultiMail's real ones and the loop is bounded. Nothing here uses mm_assistants.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from bench.baselines import Account

POLL_SECONDS = 5.0
MAX_POLLS = 120  # ten minutes of looks, as the seed allows
PENDING = ("pending_scan", "pending_send_approval")


def send_and_wait(
    account: Account,
    body: dict[str, Any],
    *,
    poll_seconds: float = POLL_SECONDS,
    max_polls: int = MAX_POLLS,
) -> tuple[dict[str, Any], int]:
    """Send ``body`` and, while it is held, GET it every ``poll_seconds``: the email's last
    answer (the tool output to submit) and how many GETs it took."""
    headers = {"Authorization": f"Bearer {account.api_key}"}
    mailbox_url = f"{account.base_url}/v1/mailboxes/{account.mailbox_id}"
    resp = httpx.post(f"{mailbox_url}/send", json=body, headers=headers, timeout=30)
    resp.raise_for_status()
    email: dict[str, Any] = resp.json()
    email_id = email["id"]
    polls = 0
    while email.get("status") in PENDING and polls < max_polls:
        time.sleep(poll_seconds)
        polls += 1
        resp = httpx.get(f"{mailbox_url}/emails/{email_id}", headers=headers, timeout=30)
        resp.raise_for_status()
        email = resp.json()
    return email, polls
