"""The HTTP answer to a webhook delivery (pure), shared by the framework adapters.

=====================================  ======  ==========================================
what happened                          status  body
=====================================  ======  ==========================================
accepted (work continues afterwards)   200     ``{"status": "accepted", "event", "id"}``
a replay of an accepted delivery       200     ``{"status": "duplicate"}``
body over the size cap                 413     ``{"error": "too_large", "detail"}``
signature or timestamp refused         401     ``{"error": <reason>, "detail"}``
body is not a JSON object              400     ``{"error": "bad_payload", "detail"}``
a fleet decision that was not recorded 503     ``{"error": "not_kept", "detail"}``
=====================================  ======  ==========================================

A duplicate is answered 200 so that MultiMail stops retrying it. No answer carries a
secret or a signature (the refusal's detail never does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mm_assistants.webhooks.events import WebhookEvent, WebhookPayloadError
from mm_assistants.webhooks.receiver import DecisionNotKept, DuplicateDelivery
from mm_assistants.webhooks.verify import WebhookVerificationError

DEFAULT_PATH = "/multimail/webhooks"


@dataclass(frozen=True)
class Answer:
    """An HTTP status and JSON body, and the event to handle after answering (if any)."""

    status: int
    body: dict[str, Any]
    event: WebhookEvent | None = None


def too_large(headers: Mapping[str, Any], max_body: int) -> Answer | None:
    """The 413 answer when ``Content-Length`` already says the body is over ``max_body``."""
    length = next((v for k, v in headers.items() if k.lower() == "content-length"), None)
    if length is not None and str(length).strip().isdigit() and int(length) > max_body:
        return refused_size(max_body)
    return None


def refused_size(max_body: int) -> Answer:
    """The 413 answer for a body found to be over ``max_body`` bytes."""
    return Answer(413, {"error": "too_large", "detail": f"body is over {max_body} bytes"})


def accept_answer(receiver: Any, body: bytes, headers: Mapping[str, Any]) -> Answer:
    """``receiver.accept`` turned into the answer of the table above."""
    try:
        event = receiver.accept(body, headers)
    except DuplicateDelivery:
        return Answer(200, {"status": "duplicate"})
    except WebhookVerificationError as error:
        status = 413 if error.reason == "too_large" else 401
        return Answer(status, {"error": error.reason, "detail": str(error)})
    except WebhookPayloadError as error:
        return Answer(400, {"error": "bad_payload", "detail": str(error)})
    except DecisionNotKept as error:  # MultiMail retries a 5xx: the decision is not lost
        return Answer(503, {"error": "not_kept", "detail": str(error)})
    return Answer(200, {"status": "accepted", "event": event.type, "id": event.id}, event)
