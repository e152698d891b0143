"""The trust gate: which inbound emails may reach the model."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.webhooks import MessageEvent, TrustPolicy, parse_event


def received(**data: Any) -> MessageEvent:
    event = parse_event({"event": "message.received", "data": {"email_id": "em_1", **data}})
    assert isinstance(event, MessageEvent)
    return event


def test_a_clean_authenticated_email_is_trusted() -> None:
    verdict = TrustPolicy().judge(
        received(spam_verdict="clean", dkim="pass", spf="pass", dmarc="pass")
    )
    assert verdict.trusted
    assert verdict.reason == ""


@pytest.mark.parametrize("spam", ["flagged", "quarantined", "FLAGGED"])
def test_flagged_or_quarantined_spam_is_held(spam: str) -> None:
    verdict = TrustPolicy().judge(received(spam_verdict=spam))
    assert not verdict.trusted
    assert verdict.reasons == (f"spam verdict is {spam.lower()}",)


@pytest.mark.parametrize("check", ["dkim", "spf", "dmarc"])
@pytest.mark.parametrize("result", ["fail", "softfail", "permerror", "temperror"])
def test_a_failed_authentication_verdict_is_held(check: str, result: str) -> None:
    verdict = TrustPolicy().judge(received(spam_verdict="clean", **{check: result}))
    assert not verdict.trusted
    assert verdict.reasons == (f"{check.upper()} {result}",)


def test_absent_verdicts_never_block() -> None:
    assert TrustPolicy().judge(received()).trusted


def test_every_failure_is_named() -> None:
    verdict = TrustPolicy().judge(received(spam_verdict="flagged", dkim="fail", dmarc="fail"))
    assert verdict.reasons == ("spam verdict is flagged", "DKIM fail", "DMARC fail")
    assert verdict.reason == "spam verdict is flagged; DKIM fail; DMARC fail"


def test_verdicts_missing_from_the_event_are_read_from_the_email_record() -> None:
    policy = TrustPolicy()
    event = received()
    assert policy.needs_lookup(event)
    record = {"spam_verdict": "quarantined", "authentication_results": {"spf": {"result": "fail"}}}
    verdict = policy.judge(event, record)
    assert verdict.reasons == ("spam verdict is quarantined", "SPF fail")


def test_the_event_wins_over_the_record() -> None:
    verdict = TrustPolicy().judge(received(spam_verdict="clean"), {"spam_verdict": "flagged"})
    assert verdict.trusted


def test_a_spam_score_limit_is_optional() -> None:
    event = received(spam_verdict="clean", spam_score=7.5)
    assert TrustPolicy().judge(event).trusted
    verdict = TrustPolicy(max_spam_score=5).judge(event)
    assert verdict.reasons == ("spam score 7.5 is above 5",)


def test_a_bad_policy_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="tag_key"):
        TrustPolicy(tag_key=" ")
    with pytest.raises(ValueError, match="max_spam_score"):
        TrustPolicy(max_spam_score=-1)
