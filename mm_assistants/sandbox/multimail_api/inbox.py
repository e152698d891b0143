"""``check_inbox``'s selection (pure): filters, newest-first order and cursor paging.

The cursor is the id of the last email of the previous page, so pages never skip or
repeat emails that share a ``received_at``; ``since_id`` keeps only emails stored after
the given one (what ``wait_for_email`` polls with). Quarantined spam is left out unless
the ``status`` filter asks for ``spam_quarantined``: quarantine takes an email out of the
inbox (``GET /v1/emails`` lists it, ``read_email`` still opens it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api.errors import bad_request
from mm_assistants.sandbox.multimail_api.formats import parse_time

STATUSES = (
    "unread",
    "read",
    "archived",
    "deleted",
    "pending_scan",
    "pending_send_approval",
    "pending_inbound_approval",
    "rejected",
    "cancelled",
    "send_failed",
    "scheduled",
    "spam_flagged",
    "spam_quarantined",
)
QUARANTINED = "spam_quarantined"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def limit(query: Mapping[str, str], default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """The ``limit`` parameter, 1 to ``maximum`` (400 otherwise)."""
    raw = query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise bad_request(f"limit must be an integer from 1 to {maximum}")
    return value


def page_after(items: Sequence[Doc], cursor: str | None, size: int) -> tuple[list[Doc], str | None]:
    """The ``size`` items after the one whose id is ``cursor``, and the next cursor."""
    start = 0
    if cursor:
        ids = [item["id"] for item in items]
        if cursor not in ids:
            raise bad_request("Invalid cursor")
        start = ids.index(cursor) + 1
    page = list(items[start : start + size])
    more = start + size < len(items)
    return page, (page[-1]["id"] if more and page else None)


def select(emails: Sequence[Doc], query: Mapping[str, str]) -> tuple[list[Doc], str | None]:
    """The page of ``emails`` (stored order, oldest first) that ``query`` asks for."""
    checks = _filters(query)
    since = query.get("since_id")
    if since:
        ids = [email["id"] for email in emails]
        emails = emails[ids.index(since) + 1 :] if since in ids else []
    chosen = [email for email in reversed(emails) if all(check(email) for check in checks)]
    return page_after(chosen, query.get("cursor"), limit(query))


def _filters(query: Mapping[str, str]) -> list[Callable[[Doc], bool]]:
    checks: list[Callable[[Doc], bool]] = []
    status = query.get("status")
    if status:
        if status not in STATUSES:
            raise bad_request(f"Invalid status '{status}'")
        checks.append(lambda e: e["status"] == status)
    else:
        checks.append(lambda e: e["status"] != QUARANTINED)
    direction = query.get("direction")
    if direction:
        if direction not in ("inbound", "outbound"):
            raise bad_request("direction must be 'inbound' or 'outbound'")
        checks.append(lambda e: e["direction"] == direction)
    sender = (query.get("sender") or "").strip().lower()
    if sender:
        # MultiMail's client documents a partial match ("ann", "@example.com" both find
        # ann@example.com), in any case
        checks.append(lambda e: sender in e["from"].lower())
    needle = (query.get("subject_contains") or "").lower()
    if needle:
        checks.append(lambda e: needle in e["subject"].lower())
    attached = query.get("has_attachments")
    if attached:
        if attached not in ("true", "false"):
            raise bad_request("has_attachments must be 'true' or 'false'")
        checks.append(lambda e: e["has_attachments"] is (attached == "true"))
    for name, after in (("date_after", True), ("date_before", False)):
        checks.extend(_date_filter(query, name, after))
    return checks


def _date_filter(query: Mapping[str, str], name: str, after: bool) -> list[Callable[[Doc], bool]]:
    raw = query.get(name)
    if not raw:
        return []
    bound = parse_time(raw)
    if bound is None:
        raise bad_request(f"{name} must be an ISO 8601 date or time")

    def check(email: Mapping[str, Any]) -> bool:
        moment = email["_created"]
        return bool(moment > bound if after else moment < bound)

    return [check]
