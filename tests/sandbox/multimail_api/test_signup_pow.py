"""Signing up with a proof of work: the challenge, POST /v1/account, confirmation, and
resend-confirmation's ``oversight_email``."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import httpx
import pytest

from mm_assistants.sandbox.multimail_api import MultiMailSandboxSettings
from tests.sandbox.multimail_api.conftest import Sandbox, Start, send_body


def _solve(challenge: dict[str, Any]) -> dict[str, Any]:
    """Solve as a client would, independently of the sandbox's own code."""
    for number in range(challenge["maxnumber"] + 1):
        digest = hashlib.sha256((challenge["salt"] + str(number)).encode()).hexdigest()
        if digest == challenge["challenge"]:
            fields = ("algorithm", "challenge", "salt", "signature")
            return {**{k: challenge[k] for k in fields}, "number": number}
    raise AssertionError("unsolvable challenge")


def _signup(solution: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "operator_name": "Acme Robots",
        "oversight_email": "ops@acme.example",
        "accepted_tos": True,
        "accepted_operator_agreement": True,
        "accepted_anti_spam_policy": True,
        "email_use_type": "transactional",
        "pow_solution": solution,
        **overrides,
    }


def _challenge(client: httpx.Client) -> dict[str, Any]:
    answer = client.post("/v1/account/challenge", json={"oversight_email": "ops@acme.example"})
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def test_a_full_signup_ends_with_a_working_key(sandbox: Sandbox) -> None:
    public = sandbox.client()
    challenge = _challenge(public)
    assert challenge["algorithm"] == "SHA-256"
    assert challenge["maxnumber"] == 50_000
    assert "?expires=" in challenge["salt"]
    body = _signup(_solve(challenge), slug="acme", oversight_mode="monitored", use_case="support")
    created = public.post("/v1/account", json=body)
    assert created.json()["status"] == "confirmation_sent"
    code = sandbox.control.codes("confirm_account")[-1]["id"]
    confirmed = public.post("/v1/confirm", json={"code": code}).json()
    assert confirmed["mailbox_address"] == "agent@acme.multimail.dev"
    assert (confirmed["oversight_mode"], confirmed["use_case"]) == ("monitored", "support")
    key = sandbox.client(confirmed["api_key"])
    assert key.get("/v1/account").json()["plan"] == "starter"
    sent = key.post(f"/v1/mailboxes/{confirmed['mailbox_id']}/send", json=send_body())
    assert sent.status_code == 202


def test_the_answer_is_the_same_for_a_known_oversight_email(sandbox: Sandbox) -> None:
    public = sandbox.client()
    first = public.post("/v1/account", json=_signup(_solve(_challenge(public))))
    again = public.post("/v1/account", json=_signup(_solve(_challenge(public)), slug="acme-2"))
    assert (
        first.json()
        == again.json()
        == {
            "status": "confirmation_sent",
            "message": "Check your email for the activation code.",
        }
    )
    tenants = [c["tenant_id"] for c in sandbox.control.codes("confirm_account")]
    assert len(tenants) == 1  # no second account, no second code


def _forged(solution: dict[str, Any]) -> dict[str, Any]:
    signature = hmac.new(b"guess", solution["challenge"].encode(), hashlib.sha256).hexdigest()
    return {**solution, "signature": signature}


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        pytest.param(lambda s: {**s, "number": s["number"] + 1}, "Wrong proof", id="wrong-number"),
        pytest.param(_forged, "signature", id="forged-signature"),
        pytest.param(lambda s: {**s, "algorithm": "SHA-1"}, "algorithm", id="algorithm"),
        pytest.param(lambda s: {**s, "number": "7"}, "integer", id="number-text"),
        pytest.param(lambda s: {k: v for k, v in s.items() if k != "salt"}, "salt", id="missing"),
    ],
)
def test_a_bad_proof_of_work_is_400(sandbox: Sandbox, spoil: Any, message: str) -> None:
    public = sandbox.client()
    answer = public.post("/v1/account", json=_signup(spoil(_solve(_challenge(public)))))
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert sandbox.control.codes("confirm_account") == []


def test_an_expired_challenge_is_400(sandbox: Sandbox) -> None:
    public = sandbox.client()
    solution = _solve(_challenge(public))
    sandbox.advance(301)
    answer = public.post("/v1/account", json=_signup(solution))
    assert (answer.status_code, answer.json()["error"]) == (
        400,
        "Proof-of-work challenge expired; request a new one",
    )


USED = "Proof-of-work challenge already used; request a new one"


def test_a_challenge_is_used_once(sandbox: Sandbox) -> None:
    public = sandbox.client()
    solution = _solve(_challenge(public))
    assert public.post("/v1/account", json=_signup(solution)).status_code == 200
    reused = public.post("/v1/account", json=_signup(solution, oversight_email="b@b.example"))
    assert reused.status_code == 400
    assert "already used" in reused.json()["error"]


def test_a_taken_slug_is_409_with_suggestions_and_uses_up_the_challenge(sandbox: Sandbox) -> None:
    public = sandbox.client()
    solution = _solve(_challenge(public))
    taken = public.post("/v1/account", json=_signup(solution, slug="sandbox"))
    assert taken.status_code == 409
    assert taken.json()["suggestions"] == ["sandbox-2", "sandbox-3", "sandbox-4"]
    retried = public.post("/v1/account", json=_signup(solution, slug="sandbox-2"))
    assert (retried.status_code, retried.json()["error"]) == (400, USED)
    fresh = _signup(_solve(_challenge(public)), slug="sandbox-2")
    assert public.post("/v1/account", json=fresh).status_code == 200


VICTIM = "victim@corp.example"


def test_one_solution_cannot_probe_oversight_emails(sandbox: Sandbox) -> None:
    """A taken slug used to be a 409 for a new email and a 200 for a known one, and the 409
    kept the challenge: one solve could probe address after address."""
    sandbox.control.signup("Victim Co", VICTIM)
    public = sandbox.client()
    solution = _solve(_challenge(public))
    probe = public.post("/v1/account", json=_signup(solution, slug="sandbox"))
    assert probe.status_code == 409
    again = public.post(
        "/v1/account", json=_signup(solution, oversight_email=VICTIM, slug="sandbox")
    )
    assert (again.status_code, again.json()["error"]) == (400, USED)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"slug": "sandbox"}, id="taken-slug"),
        pytest.param({"slug": "fresh-slug"}, id="free-slug"),
        pytest.param({}, id="no-slug"),
        pytest.param({"accepted_tos": False}, id="bad-field"),
        pytest.param({"slug": "Bad Slug"}, id="bad-slug"),
    ],
)
def test_known_and_unknown_oversight_emails_get_the_same_answer(
    start_sandbox: Start, tmp_path: Path, overrides: dict[str, Any]
) -> None:
    answers = []
    for email in (VICTIM, "nobody@corp.example"):
        # a sandbox each: the first signup would take the second's slug
        sandbox = start_sandbox(db_path=str(tmp_path / f"{email}.db"))
        sandbox.control.signup("Victim Co", VICTIM)
        public = sandbox.client()
        solution = _solve(_challenge(public))
        body = _signup(solution, oversight_email=email, **overrides)
        answer = public.post("/v1/account", json=body)
        reused = public.post("/v1/account", json=body)
        assert (reused.status_code, reused.json()["error"]) == (400, USED)
        answers.append((answer.status_code, answer.json()))
    assert answers[0] == answers[1]


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"accepted_tos": False}, id="tos"),
        pytest.param({"accepted_anti_spam_policy": "yes"}, id="anti-spam"),
        pytest.param({"operator_name": "x" * 201}, id="long-name"),
        pytest.param({"oversight_email": "nope"}, id="email"),
        pytest.param({"oversight_mode": "autonomous"}, id="unsafe-mode"),
        pytest.param({"email_use_type": "marketing"}, id="marketing"),
        pytest.param({"slug": "Bad Slug"}, id="slug"),
        pytest.param({"pow_solution": None}, id="no-pow"),
    ],
)
def test_bad_signup_fields_are_400(sandbox: Sandbox, overrides: dict[str, Any]) -> None:
    public = sandbox.client()
    answer = public.post("/v1/account", json=_signup(_solve(_challenge(public)), **overrides))
    assert answer.status_code == 400


def test_maxnumber_is_a_setting(start_sandbox: Start) -> None:
    settings = MultiMailSandboxSettings(pow_maxnumber=10, settle_interval=None)
    challenge = _challenge(start_sandbox(settings).client())
    assert challenge["maxnumber"] == 10
    assert 0 <= _solve(challenge)["number"] <= 10
    with pytest.raises(ValueError, match="pow_maxnumber"):
        MultiMailSandboxSettings(pow_maxnumber=0)


def test_resend_confirmation_takes_the_oversight_email(sandbox: Sandbox) -> None:
    public = sandbox.client()
    made = sandbox.control.signup("Acme", "ops@acme.example")
    for field in ("oversight_email", "email"):
        answer = public.post("/v1/account/resend-confirmation", json={field: "ops@acme.example"})
        assert answer.json()["status"] == "confirmation_resent"
    open_codes = sandbox.control.codes("confirm_account")
    assert [c["tenant_id"] for c in open_codes] == [made["tenant_id"]] * 3
    unknown = public.post("/v1/account/resend-confirmation", json={"oversight_email": "x@y.z"})
    assert unknown.json() == answer.json()  # no enumeration
