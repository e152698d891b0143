"""`MultiMailSandboxSettings`: how the MultiMail-compatible sandbox behaves."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Operations that, like MultiMail, may ask for an operator's approval code first (0.5.3's
#: four, adding the oversight scope to a key (0.5.6), and cancelling a paid subscription).
APPROVAL_FLOWS = (
    "create_mailbox",
    "create_webhook",
    "create_api_key",
    "revoke_api_key",
    "add_oversight_scope",
    "cancel_subscription",
)


@dataclass(frozen=True)
class MultiMailSandboxSettings:
    """The sandbox's knobs (all times in seconds).

    - ``scan_delay``: how long a send stays ``pending_scan`` before it is held for approval
      or delivered.
    - ``idempotency_window``: how long an ``idempotency_key`` answers ``already_sent``
      (MultiMail: 24 h).
    - ``reply_dedupe_window``: identical reply text to the same email within this many
      seconds is refused with 409 (MultiMail: 60 s).
    - ``code_ttl``: how long approval and upgrade codes stay valid (MultiMail: 24 h).
    - ``upgrade_requests_per_hour``: ``request-upgrade`` calls allowed per mailbox and hour
      before a 429 (MultiMail: 3).
    - ``monthly_email_quota``: sends per tenant and calendar month before a quota 429.
    - ``download_url_ttl``: how long an attachment's signed link works (its ``expires_in``).
    - ``require_approval``: which of `APPROVAL_FLOWS` answer 202 and mail the operator a
      code until the call is repeated with ``approval_code`` (default: what MultiMail's own
      client documents as needing the operator: creating a mailbox, a webhook or an API
      key, adding ``oversight`` to a key (MultiMail 0.5.6), and ``cancel_subscription``
      as MultiMail's billing does; ``revoke_api_key`` is left out because MultiMail's
      client sends no code for it). The operator reads codes with
      `MultiMailControl.approval_code` or ``GET /sandbox/codes``.
    - ``pow_maxnumber``: the ceiling of the signup proof of work's secret number
      (``POST /v1/account/challenge``); small by default so a test solves it in
      milliseconds (MultiMail's own is larger, and depends on the oversight email's domain).
    - ``challenge_ttl``: how long a signup challenge may be redeemed (MultiMail: 5 minutes).
    - ``settle_interval``: when the app runs its own lifespan, how often a background task
      settles due emails so events fire without requests; ``None`` turns it off.

    Example::

        MultiMailSandboxSettings(scan_delay=0.0, require_approval=APPROVAL_FLOWS)
    """

    scan_delay: float = 0.5
    idempotency_window: float = 86_400.0
    reply_dedupe_window: float = 60.0
    code_ttl: float = 86_400.0
    upgrade_requests_per_hour: int = 3
    monthly_email_quota: int = 100_000
    download_url_ttl: int = 3600
    require_approval: tuple[str, ...] = (
        "create_mailbox",
        "create_webhook",
        "create_api_key",
        "add_oversight_scope",
        "cancel_subscription",
    )
    pow_maxnumber: int = 50_000
    challenge_ttl: float = 300.0
    settle_interval: float | None = 0.25

    def __post_init__(self) -> None:
        for name in (
            "scan_delay",
            "idempotency_window",
            "reply_dedupe_window",
            "code_ttl",
            "challenge_ttl",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"MultiMailSandboxSettings.{name} must be a number of seconds")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"MultiMailSandboxSettings.{name} must be finite and >= 0")
        for name in (
            "upgrade_requests_per_hour",
            "monthly_email_quota",
            "download_url_ttl",
            "pow_maxnumber",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MultiMailSandboxSettings.{name} must be an int >= 1")
        unknown = sorted(set(self.require_approval) - set(APPROVAL_FLOWS))
        if unknown:
            raise ValueError(
                f"MultiMailSandboxSettings.require_approval: unknown {unknown}; "
                f"choose from {list(APPROVAL_FLOWS)}"
            )
        interval = self.settle_interval
        if interval is not None and not (math.isfinite(interval) and interval > 0):
            raise ValueError("MultiMailSandboxSettings.settle_interval must be > 0 or None")
