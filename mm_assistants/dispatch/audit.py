"""One structured audit record per dispatch, to a pluggable sink.

Records carry ids, outcome, status, timing and a digest of the arguments: never bodies,
recipients' text, API keys or anything else the model sent in clear.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from mm_assistants.dispatch.calls import ToolCall, ToolResult

AUDIT_LOGGER = logging.getLogger("mm_assistants.audit")


@dataclass(frozen=True)
class AuditRecord:
    """What happened to one tool call, fit for a log or a database row."""

    tool: str
    call_id: str
    outcome: str  # "ok" or the error type
    duration_ms: float
    mailbox_id: str | None = None
    http_status: int | None = None
    idempotency_key: str | None = None
    argument_digest: str | None = None
    context: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (for JSON logs)."""
        return asdict(self)


AuditSink = Callable[[AuditRecord], None]


def log_sink(record: AuditRecord) -> None:
    """The default sink: one INFO line on the ``mm_assistants.audit`` logger.

    The full record rides along as ``extra={"audit": {...}}`` for structured handlers.
    """
    if not AUDIT_LOGGER.isEnabledFor(logging.INFO):
        return  # skip building the record's dict when nobody would see it
    AUDIT_LOGGER.info(
        "tool=%s call=%s outcome=%s status=%s mailbox=%s duration_ms=%.1f",
        record.tool,
        record.call_id,
        record.outcome,
        record.http_status,
        record.mailbox_id,
        record.duration_ms,
        extra={"audit": record.as_dict()},
    )


def argument_digest(arguments: str) -> str:
    """A short sha256 of the raw argument text: equal calls match, contents stay private."""
    data = arguments.encode("utf-8", "surrogatepass") if isinstance(arguments, str) else b""
    return hashlib.sha256(data).hexdigest()[:16]


def audit_record(call: ToolCall, result: ToolResult) -> AuditRecord:
    """The record of ``call`` ending in ``result``; its text fields are cut to a bound, for
    a model chooses a call's name and id."""
    return AuditRecord(
        tool=str(call.name)[:64],
        call_id=str(call.id)[:128],
        outcome="ok" if result.ok else str(result.error_type),
        duration_ms=round(result.duration * 1000, 3),
        mailbox_id=result.mailbox_id,
        http_status=result.http_status,
        idempotency_key=result.idempotency_key,
        argument_digest=argument_digest(call.arguments),
        context=call.context.ids(),
    )
