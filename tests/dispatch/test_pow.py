"""The signup challenge's proof of work: solved like MultiMail checks it, refused when a
hostile or broken answer would make it slow or meaningless."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest

from mm_assistants.dispatch.policy import Refusal
from mm_assistants.dispatch.pow import (
    MAX_FIELD_CHARS,
    MAX_NUMBER_CAP,
    attach_solution,
    challenge_problem,
    solve_challenge,
)
from mm_assistants.tools import load_registry

SERVER_SECRET = b"sandbox-hmac-secret"


def challenge(
    number: int, *, salt: str = "9f1c?expires=4102444800&", **changes: Any
) -> dict[str, Any]:
    """A challenge as an ALTCHA server builds it, whose answer is ``number``."""
    digest = hashlib.sha256((salt + str(number)).encode()).hexdigest()
    signature = hmac.new(SERVER_SECRET, digest.encode(), hashlib.sha256).hexdigest()
    built = {
        "algorithm": "SHA-256",
        "challenge": digest,
        "maxnumber": 50_000,
        "salt": salt,
        "signature": signature,
    }
    return built | changes


def server_accepts(solution: dict[str, Any]) -> bool:
    """What the server checks: the number hashes to the challenge, and the signature is its own."""
    digest = hashlib.sha256((solution["salt"] + str(solution["number"])).encode()).hexdigest()
    expected = hmac.new(SERVER_SECRET, solution["challenge"].encode(), hashlib.sha256).hexdigest()
    return digest == solution["challenge"] and hmac.compare_digest(expected, solution["signature"])


def test_finds_the_number_and_echoes_every_other_field() -> None:
    given = challenge(31_337)
    solution = solve_challenge(given)
    assert solution == {
        "algorithm": "SHA-256",
        "challenge": given["challenge"],
        "number": 31_337,
        "salt": given["salt"],
        "signature": given["signature"],
    }
    assert server_accepts(solution)


@pytest.mark.parametrize("number", [0, 50_000], ids=["lowest", "maxnumber itself"])
def test_the_range_includes_both_ends(number: int) -> None:
    solution = solve_challenge(challenge(number))
    assert solution is not None
    assert solution["number"] == number


def test_a_number_outside_the_range_is_not_found() -> None:
    assert solve_challenge(challenge(50_001)) is None
    refused = attach_solution(challenge(50_001))
    assert isinstance(refused, Refusal)
    assert refused.type == "challenge_unsolvable"
    assert "no number" in refused.message


def test_an_uppercase_digest_is_solved_and_echoed_as_given() -> None:
    given = challenge(7)
    given["challenge"] = given["challenge"].upper()
    solution = solve_challenge(given)
    assert solution is not None
    assert solution["challenge"] == given["challenge"]


def test_the_worst_case_at_the_cap_is_bounded() -> None:
    started = time.monotonic()
    solution = solve_challenge(challenge(MAX_NUMBER_CAP, maxnumber=MAX_NUMBER_CAP))
    assert solution is not None
    assert solution["number"] == MAX_NUMBER_CAP
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"maxnumber": MAX_NUMBER_CAP + 1}, "above this client's cap", id="over-cap"),
        pytest.param({"maxnumber": 10**12}, "above this client's cap", id="huge"),
        pytest.param({"algorithm": "SHA-1"}, "only SHA-256", id="sha1"),
        pytest.param({"algorithm": None}, "only SHA-256", id="no-algorithm"),
        pytest.param({"challenge": "abc"}, "hex digest", id="short-digest"),
        pytest.param({"challenge": 12}, "hex digest", id="number-digest"),
        pytest.param({"salt": ""}, "salt", id="empty-salt"),
        pytest.param({"salt": "x" * 5000}, "salt", id="huge-salt"),
        pytest.param({"signature": None}, "signature", id="no-signature"),
        pytest.param({"maxnumber": -1}, "non-negative", id="negative"),
        pytest.param({"maxnumber": "100"}, "non-negative", id="string-maxnumber"),
        pytest.param({"maxnumber": True}, "non-negative", id="bool-maxnumber"),
        pytest.param({"maxnumber": 1.5}, "non-negative", id="float-maxnumber"),
    ],
)
def test_refuses_without_hashing(changes: dict[str, Any], problem: str) -> None:
    given = challenge(3, **changes)
    started = time.monotonic()
    assert problem in (challenge_problem(given) or "")
    assert solve_challenge(given) is None
    refused = attach_solution(given)
    assert isinstance(refused, Refusal)
    assert problem in refused.message
    assert time.monotonic() - started < 1  # refused, not searched


@pytest.mark.parametrize("answer", [None, [], "challenge", 42], ids=repr)
def test_an_answer_that_is_not_an_object_is_refused(answer: Any) -> None:
    assert challenge_problem(answer) == "the challenge is not a JSON object"
    assert isinstance(attach_solution(answer), Refusal)


def test_a_lower_cap_is_honoured() -> None:
    assert "cap of 10" in (challenge_problem(challenge(3, maxnumber=11), max_number=10) or "")
    assert solve_challenge(challenge(3, maxnumber=10), max_number=10) is not None


def test_attach_solution_keeps_the_answer_and_adds_pow_solution() -> None:
    given = challenge(99)
    answered = attach_solution(given)
    assert isinstance(answered, dict)
    assert {key: answered[key] for key in given} == given
    assert answered["pow_solution"]["number"] == 99


def test_the_field_limit_is_what_create_account_accepts() -> None:
    solution = load_registry("v2")["create_account"].parameters["properties"]["pow_solution"]
    for name in ("salt", "signature"):
        assert solution["properties"][name]["maxLength"] == MAX_FIELD_CHARS


@pytest.mark.parametrize("name", ["salt", "signature"])
def test_a_field_create_account_would_refuse_is_refused_before_solving(name: str) -> None:
    at_limit = challenge(7, **{name: "s" * MAX_FIELD_CHARS})
    if name == "salt":  # the digest must be of the long salt for the solve to succeed
        at_limit = challenge(7, salt="s" * MAX_FIELD_CHARS)
    assert challenge_problem(at_limit) is None
    assert (solve_challenge(at_limit) or {}).get("number") == 7
    over = dict(at_limit, **{name: "s" * (MAX_FIELD_CHARS + 1)})
    assert f"{name} is missing or malformed" in (challenge_problem(over) or "")
    assert solve_challenge(over) is None


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        pytest.param(True, TypeError, "pow_max_number must be an int", id="bool"),
        pytest.param(1.5, TypeError, "pow_max_number must be an int", id="float"),
        pytest.param("100", TypeError, "pow_max_number must be an int", id="text"),
        pytest.param(-1, ValueError, "pow_max_number must be at least 0", id="negative"),
    ],
)
def test_a_bad_pow_max_number_is_refused_at_construction(
    value: Any, error: type[Exception], message: str
) -> None:
    from mm_assistants.dispatch import Dispatcher
    from mm_assistants.multimail import MultiMailClient

    with MultiMailClient(api_key="k", base_url="https://mm.test") as client:
        with pytest.raises(error) as info:
            Dispatcher(client, pow_max_number=value)
        assert str(info.value) == message
        assert Dispatcher(client, pow_max_number=0).pow_max_number == 0


def test_a_challenge_of_range_zero_is_solved() -> None:
    assert (solve_challenge(challenge(0, maxnumber=0)) or {}).get("number") == 0


def test_the_solver_itself_honours_a_lower_cap() -> None:
    assert solve_challenge(challenge(3, maxnumber=11), max_number=10) is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"algorithm": "SHA-1"}, "only SHA-256 challenges are solved", id="alg"),
        pytest.param(
            {"maxnumber": -1}, "the challenge's maxnumber is not a non-negative integer", id="neg"
        ),
        pytest.param({"salt": ""}, "the challenge's salt is missing or malformed", id="salt"),
        pytest.param(
            {"challenge": "abc"}, "the challenge is not a SHA-256 hex digest", id="digest"
        ),
    ],
)
def test_the_refusal_says_exactly_why_and_what_to_do(changes: dict[str, Any], problem: str) -> None:
    given = challenge(3, **changes)
    assert challenge_problem(given) == problem
    refused = attach_solution(given)
    assert refused == Refusal(
        "challenge_unsolvable",
        f"the signup challenge was not solved: {problem}. Call request_challenge again; if "
        "this repeats, tell the operator.",
    )


def test_an_unsolvable_challenge_says_no_number_solves_it() -> None:
    refused = attach_solution(challenge(5_000, maxnumber=10))
    assert isinstance(refused, Refusal)
    assert refused.message == (
        "the signup challenge was not solved: no number in the challenge's range solves it. "
        "Call request_challenge again; if this repeats, tell the operator."
    )


def test_a_cap_raised_above_the_default_lets_a_larger_challenge_be_solved() -> None:
    # An operator who raises pow_max_number gets challenges up to it solved, not refused
    # as unsolvable by the default cap.
    raised = MAX_NUMBER_CAP * 2
    given = challenge(12, maxnumber=MAX_NUMBER_CAP + 1)
    assert isinstance(attach_solution(given), Refusal)
    answered = attach_solution(given, max_number=raised)
    assert isinstance(answered, dict)
    assert answered["pow_solution"]["number"] == 12
