"""The trust gate for inbound email (pure): may this message start a model run?

An allow-list: an email reaches the model only when its spam verdict is one known to be
clean and each required authentication check (DKIM, SPF, DMARC) reports ``pass``. Anything
else — a flagged, unknown or missing spam verdict, a missing, failed or unfamiliar
authentication result — goes to a person instead (the router tags it ``needs-human`` with
the reasons). A verdict the library has never heard of is not a reason to trust an email.

MultiMail publishes ``spam_verdict`` and ``spam_score``; the authentication results only
sometimes. A deployment whose MultiMail reports none must say so explicitly, e.g.
``TrustPolicy(required_auth=("dmarc",))`` or ``required_auth=()``, knowing that the model
then reads mail whose sender nobody verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mm_assistants.webhooks.events import MessageEvent

#: Spam verdicts that let an email reach the model (MultiMail says ``clean``).
CLEAN_SPAM_VERDICTS = frozenset({"clean", "ham", "not_spam"})
#: Authentication results that count as passed (RFC 8601 result names).
PASSING_AUTH_RESULTS = frozenset({"pass"})
AUTH_CHECKS = ("dkim", "spf", "dmarc")


@dataclass(frozen=True, kw_only=True)
class TrustPolicy:
    """Which inbound emails the router hands to the model (an allow-list).

    ``clean_spam_verdicts``: the spam verdicts that pass (any other, or none, holds the
    email). ``required_auth``: the checks that must be reported and pass; a check outside
    it that is reported must pass too. ``passing_auth_results``: what counts as passed.
    ``max_spam_score`` (when set) holds any email scored above it. ``tag_key``/``tag_value``
    name the tag set on a held email (the reason goes in a second tag,
    ``<tag_key>-reason``).

    Example (a MultiMail that reports only DMARC)::

        TrustPolicy(required_auth=("dmarc",))
    """

    clean_spam_verdicts: frozenset[str] = CLEAN_SPAM_VERDICTS
    required_auth: tuple[str, ...] = AUTH_CHECKS
    passing_auth_results: frozenset[str] = PASSING_AUTH_RESULTS
    max_spam_score: float | None = None
    tag_key: str = "needs-human"
    tag_value: str = "true"

    def __post_init__(self) -> None:
        if not self.tag_key.strip():
            raise ValueError("TrustPolicy.tag_key must be a non-empty tag name")
        if self.max_spam_score is not None and self.max_spam_score < 0:
            raise ValueError("TrustPolicy.max_spam_score must be >= 0 when set")
        unknown = set(self.required_auth) - set(AUTH_CHECKS)
        if unknown:
            raise ValueError(f"TrustPolicy.required_auth names unknown checks {sorted(unknown)}")
        # normalised once, so judging compares lower-case text to lower-case text
        object.__setattr__(self, "required_auth", tuple(self.required_auth))
        for name in ("clean_spam_verdicts", "passing_auth_results"):
            value = frozenset(item.lower() for item in getattr(self, name))
            object.__setattr__(self, name, value)

    def judge(self, event: MessageEvent, email: Mapping[str, Any] | None = None) -> TrustVerdict:
        """The verdict on ``event``; fields the event lacks are read from ``email`` (the
        email's record, when the caller looked it up)."""
        verdicts = _verdicts(event, email or {})
        reasons = []
        spam = verdicts["spam_verdict"]
        if spam is None:
            reasons.append("no spam verdict")
        elif spam.lower() not in self.clean_spam_verdicts:
            reasons.append(f"spam verdict is {spam.lower()}")
        score = _score(event.spam_score, (email or {}).get("spam_score"))
        if self.max_spam_score is not None and score is not None and score > self.max_spam_score:
            reasons.append(f"spam score {score:g} is above {self.max_spam_score:g}")
        for check in AUTH_CHECKS:
            result = verdicts[check]
            if result is None:
                if check in self.required_auth:
                    reasons.append(f"no {check.upper()} result")
            elif result.lower() not in self.passing_auth_results:
                reasons.append(f"{check.upper()} {result.lower()}")
        return TrustVerdict(trusted=not reasons, reasons=tuple(reasons))

    def needs_lookup(self, event: MessageEvent) -> bool:
        """Whether the event lacks the spam verdict or a required authentication result,
        so the email's record should be read before judging."""
        if event.spam_verdict is None:
            return True
        return any(getattr(event, check) is None for check in self.required_auth)


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
