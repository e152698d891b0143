"""The trust gate for inbound email (pure): may this message start a model run?

An email whose spam verdict is flagged or quarantined, or whose DKIM/SPF/DMARC verdict
failed (when MultiMail reports one; it publishes ``spam_verdict`` and ``spam_score``, the
authentication verdicts only sometimes), goes to a person instead of the model. Absent
verdicts never block: MultiMail has already screened every delivered email.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mm_assistants.webhooks.events import MessageEvent

#: Spam verdicts that keep an email away from the model.
BLOCKED_SPAM_VERDICTS = frozenset({"flagged", "quarantined", "spam", "rejected"})
#: Authentication results that count as failed (RFC 8601 result names).
FAILED_AUTH_RESULTS = frozenset({"fail", "softfail", "permerror", "temperror"})
AUTH_CHECKS = ("dkim", "spf", "dmarc")


@dataclass(frozen=True, kw_only=True)
class TrustPolicy:
    """Which inbound emails the router hands to the model.

    ``blocked_spam_verdicts`` and ``failed_auth_results`` list the verdicts that hold an
    email for a human; ``max_spam_score`` (when set) holds any email scored above it.
    ``tag_key``/``tag_value`` name the tag set on a held email (the reason goes in a second
    tag, ``<tag_key>-reason``).
    """

    blocked_spam_verdicts: frozenset[str] = BLOCKED_SPAM_VERDICTS
    failed_auth_results: frozenset[str] = FAILED_AUTH_RESULTS
    max_spam_score: float | None = None
    tag_key: str = "needs-human"
    tag_value: str = "true"

    def __post_init__(self) -> None:
        if not self.tag_key.strip():
            raise ValueError("TrustPolicy.tag_key must be a non-empty tag name")
        if self.max_spam_score is not None and self.max_spam_score < 0:
            raise ValueError("TrustPolicy.max_spam_score must be >= 0 when set")

    def judge(self, event: MessageEvent, email: Mapping[str, Any] | None = None) -> TrustVerdict:
        """The verdict on ``event``; fields the event lacks are read from ``email`` (the
        email's record, when the caller looked it up)."""
        verdicts = _verdicts(event, email or {})
        reasons = []
        spam = verdicts["spam_verdict"]
        if spam is not None and spam.lower() in self.blocked_spam_verdicts:
            reasons.append(f"spam verdict is {spam.lower()}")
        score = _score(event.spam_score, (email or {}).get("spam_score"))
        if self.max_spam_score is not None and score is not None and score > self.max_spam_score:
            reasons.append(f"spam score {score:g} is above {self.max_spam_score:g}")
        for check in AUTH_CHECKS:
            result = verdicts[check]
            if result is not None and result.lower() in self.failed_auth_results:
                reasons.append(f"{check.upper()} {result.lower()}")
        return TrustVerdict(trusted=not reasons, reasons=tuple(reasons))

    def needs_lookup(self, event: MessageEvent) -> bool:
        """Whether the event lacks the spam verdict, so the email's record should be read."""
        return event.spam_verdict is None


@dataclass(frozen=True)
class TrustVerdict:
    """Whether an inbound email may reach the model, and if not, why (one reason a check)."""

    trusted: bool
    reasons: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """The reasons as one sentence fragment (empty when trusted)."""
        return "; ".join(self.reasons)


def _verdicts(event: MessageEvent, email: Mapping[str, Any]) -> dict[str, str | None]:
    auth = email.get("authentication_results")
    auth = auth if isinstance(auth, Mapping) else {}
    found: dict[str, str | None] = {}
    for name in ("spam_verdict", *AUTH_CHECKS):
        value = getattr(event, name)
        if value is None:
            value = email.get(name, auth.get(name))
        found[name] = _verdict_text(value)
    return found


def _verdict_text(value: Any) -> str | None:
    if isinstance(value, Mapping):  # {"result": "pass", ...}
        value = value.get("result") or value.get("verdict")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _score(*values: Any) -> float | None:
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
