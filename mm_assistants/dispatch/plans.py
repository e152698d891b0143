"""The values a dispatcher hands from one step of a call to the next: the call once checked
and bound (`PreparedCall`), and the approval wait a held send needs (`ApprovalPlan`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch.calls import PendingApproval, ToolCall
from mm_assistants.tools import RequestSpec, ToolSpec


@dataclass(frozen=True)
class PreparedCall:
    """A call that passed every check and is bound to its first request."""

    call: ToolCall
    spec: ToolSpec
    arguments: dict[str, Any]
    request: RequestSpec
    mailbox_id: str | None
    started: float


@dataclass(frozen=True)
class ApprovalPlan:
    """The wait a held send needs: for which email, until when, on what schedule."""

    pending: PendingApproval
    deadline: float
    policy: ApprovalPolicy
