"""The trust gate: which inbound emails may reach the model (an allow-list; issue 11,
item 12: unknown verdicts and missing authentication results used to pass)."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.inbound import TrustPolicy
from mm_assistants.webhooks import MessageEvent, parse_event

PASSING = {"spam_verdict": "clean", "dkim": "pass", "spf": "pass", "dmarc": "pass"}


def received(**data: Any) -> MessageEvent:
    event = parse_event({"event": "message.received", "data": {"email_id": "em_1", **data}})
    assert isinstance(event, MessageEvent)
    return event


def test_a_clean_authenticated_email_is_trusted() -> None:
    verdict = TrustPolicy().judge(received(**PASSING))
    assert verdict.trusted
    assert verdict.reason == ""


@pytest.mark.parametrize("spam", ["flagged", "quarantined", "FLAGGED"])
def test_flagged_or_quarantined_spam_is_held(spam: str) -> None:
    verdict = TrustPolicy().judge(received(**{**PASSING, "spam_verdict": spam}))
    assert not verdict.trusted
    assert verdict.reasons == (f"spam verdict is {spam.lower()}",)


@pytest.mark.parametrize("spam", ["suspicious", "unknown", "probably_fine", "neutral"])
def test_an_unknown_spam_verdict_is_held(spam: str) -> None:
    verdict = TrustPolicy().judge(received(**{**PASSING, "spam_verdict": spam}))
    assert not verdict.trusted
    assert verdict.reasons == (f"spam verdict is {spam}",)


@pytest.mark.parametrize("check", ["dkim", "spf", "dmarc"])
@pytest.mark.parametrize(
    "result", ["fail", "softfail", "permerror", "temperror", "none", "neutral", "policy"]
)
def test_any_authentication_result_but_pass_is_held(check: str, result: str) -> None:
    verdict = TrustPolicy().judge(received(**{**PASSING, check: result}))
    assert not verdict.trusted
    assert verdict.reasons == (f"{check.upper()} {result}",)


@pytest.mark.parametrize("check", ["dkim", "spf", "dmarc"])
def test_a_missing_authentication_result_is_held(check: str) -> None:
    data = {name: value for name, value in PASSING.items() if name != check}
    verdict = TrustPolicy().judge(received(**data))
    assert not verdict.trusted
    assert verdict.reasons == (f"no {check.upper()} result",)


def test_no_verdicts_at_all_hold_the_email() -> None:
    verdict = TrustPolicy().judge(received())
    assert verdict.reasons == (
        "no spam verdict",
        "no DKIM result",
        "no SPF result",
        "no DMARC result",
    )


def test_a_deployment_without_authentication_results_opts_out_explicitly() -> None:
    policy = TrustPolicy(required_auth=("dmarc",))
    assert policy.judge(received(spam_verdict="clean", dmarc="pass")).trusted
    # a reported result must still pass, required or not
    assert policy.judge(received(spam_verdict="clean", dmarc="pass", spf="fail")).reasons == (
        "SPF fail",
    )
    assert TrustPolicy(required_auth=()).judge(received(spam_verdict="clean")).trusted


def test_the_allow_lists_are_configurable_and_case_blind() -> None:
    policy = TrustPolicy(clean_spam_verdicts=frozenset({"Clean", "low"}), required_auth=())
    assert policy.judge(received(spam_verdict="LOW")).trusted
    assert policy.judge(received(spam_verdict="clean")).trusted
    verdict = TrustPolicy(passing_auth_results=frozenset({"pass", "bestguesspass"})).judge(
        received(**{**PASSING, "spf": "BestGuessPass"})
    )
    assert verdict.trusted


def test_every_failure_is_named() -> None:
    verdict = TrustPolicy().judge(
        received(**{**PASSING, "spam_verdict": "flagged", "dkim": "fail", "dmarc": "fail"})
    )
    assert verdict.reasons == ("spam verdict is flagged", "DKIM fail", "DMARC fail")
    assert verdict.reason == "spam verdict is flagged; DKIM fail; DMARC fail"


def test_verdicts_missing_from_the_event_are_read_from_the_email_record() -> None:
    policy = TrustPolicy()
    event = received()
    assert policy.needs_lookup(event)
    record = {"spam_verdict": "quarantined", "authentication_results": {"spf": {"result": "fail"}}}
    verdict = policy.judge(event, record)
    assert verdict.reasons == (
        "spam verdict is quarantined",
        "no DKIM result",
        "SPF fail",
        "no DMARC result",
    )
    assert policy.judge(event, PASSING).trusted


def test_a_missing_required_check_also_sends_the_router_to_the_record() -> None:
    policy = TrustPolicy()
    assert not policy.needs_lookup(received(**PASSING))
    assert policy.needs_lookup(received(spam_verdict="clean"))
    assert not TrustPolicy(required_auth=()).needs_lookup(received(spam_verdict="clean"))


def test_the_event_wins_over_the_record() -> None:
    verdict = TrustPolicy().judge(received(**PASSING), {"spam_verdict": "flagged"})
    assert verdict.trusted


def test_a_spam_score_limit_is_optional() -> None:
    event = received(**PASSING, spam_score=7.5)
    assert TrustPolicy().judge(event).trusted
    verdict = TrustPolicy(max_spam_score=5).judge(event)
    assert verdict.reasons == ("spam score 7.5 is above 5",)


def test_a_bad_policy_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="tag_key"):
        TrustPolicy(tag_key=" ")
    with pytest.raises(ValueError, match="max_spam_score"):
        TrustPolicy(max_spam_score=-1)
    with pytest.raises(ValueError, match="unknown checks"):
        TrustPolicy(required_auth=("arc",))
