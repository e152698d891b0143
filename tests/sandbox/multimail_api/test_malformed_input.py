"""Malformed text from a client is a 400 (or ``None``), never a crash: proof-of-work fields
that are not ASCII or hold lone surrogates, and forged ``X-MultiMail-Identity`` values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm_assistants.sandbox.multimail_api import altcha
from mm_assistants.sandbox.multimail_api.signing import identity_claim, read_identity
from tests.sandbox.multimail_api.conftest import Sandbox
from tests.sandbox.multimail_api.test_signup_pow import _challenge, _signup, _solve

HOSTILE = [
    pytest.param("é" * 64, id="latin-1"),
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param("\udfff" * 64, id="surrogates-64"),
    pytest.param("\x00" * 64, id="nul"),
    pytest.param("\u0660" * 64, id="arabic-digits"),
    pytest.param("A" * 64, id="upper-hex"),
    pytest.param("\u202e" + "a" * 63, id="bidi"),
    pytest.param("", id="empty"),
    pytest.param("f" * 100_000, id="long"),
]
POW_TEXT = ("algorithm", "challenge", "salt", "signature")


def _post(sandbox: Sandbox, body: dict[str, Any]) -> Any:
    # raw bytes: json.dumps escapes a lone surrogate (\\ud800) as a hostile client may send it
    return sandbox.client().post(
        "/v1/account",
        content=json.dumps(body).encode("ascii"),
        headers={"Content-Type": "application/json"},
    )


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", POW_TEXT)
def test_hostile_proof_of_work_text_is_400(sandbox: Sandbox, field: str, value: str) -> None:
    solution = _solve(_challenge(sandbox.client()))
    answer = _post(sandbox, _signup({**solution, field: value}))
    assert answer.status_code == 400
    assert answer.json()["error"]
    assert sandbox.control.codes("confirm_account") == []


def test_the_error_names_what_is_wrong(sandbox: Sandbox) -> None:
    solution = _solve(_challenge(sandbox.client()))
    answers = [
        _post(sandbox, _signup({**solution, "signature": "é" * 64})).json()["error"],
        _post(sandbox, _signup({**solution, "salt": "\ud800"})).json()["error"],
    ]
    assert answers == [
        "pow_solution's challenge and signature must be 64 lower-case hex digits",
        "pow_solution.salt must be printable ASCII of at most 512 characters",
    ]
    # the genuine solution still works after them: a malformed attempt spends nothing
    assert _post(sandbox, _signup(solution)).status_code == 200


@pytest.mark.parametrize("value", ["\ud800", "é" * 300, "\x00"])
@pytest.mark.parametrize(
    "field", ["operator_name", "oversight_email", "slug", "physical_address", "use_case"]
)
def test_hostile_signup_text_is_not_a_crash(sandbox: Sandbox, field: str, value: str) -> None:
    solution = _solve(_challenge(sandbox.client()))
    answer = _post(sandbox, _signup(solution, **{field: value}))
    assert answer.status_code in (200, 400)


SECRET = "sandbox-secret"
SOLVED = altcha.make_challenge(SECRET, maxnumber=5, expires=2_000_000_000, number=3)
GENUINE = {k: SOLVED[k] for k in ("algorithm", "challenge", "salt", "signature")} | {"number": 3}


def test_the_genuine_solution_checks() -> None:
    assert altcha.problem(GENUINE, SECRET, maxnumber=5, now=1_800_000_000) is None


@given(field=st.sampled_from(POW_TEXT), value=st.text())
def test_any_text_in_a_solution_is_a_sentence_not_a_crash(field: str, value: str) -> None:
    solution = {**GENUINE, field: value}
    found = altcha.problem(solution, SECRET, maxnumber=5, now=1_800_000_000)
    assert (found is None) == (value == GENUINE[field])
    assert found is None or isinstance(found, str)


CLAIMS = {"ai_generated": True, "email_id": "em_1", "from": "a@b.example", "operator": "x"}


@pytest.mark.parametrize(
    "value",
    [
        "x.é",
        "eyJhIjoxfQ.\u00e9",
        "e30." + "é" * 64,
        "\ud800.\ud800",
        "e30." + "\ud800" * 64,
        "",
        ".",
        "!!!." + "0" * 64,
        "W" * 10_000 + "." + "0" * 64,
        identity_claim(CLAIMS, SECRET).upper(),
        identity_claim(CLAIMS, SECRET) + "0",
        identity_claim(CLAIMS, "another secret"),
    ],
)
def test_a_malformed_identity_reads_as_none(value: str) -> None:
    assert read_identity(value, SECRET) is None


def test_a_genuine_identity_still_reads() -> None:
    assert read_identity(identity_claim(CLAIMS, SECRET), SECRET) == CLAIMS


@given(st.text())
def test_any_text_after_the_dot_reads_as_none(signature: str) -> None:
    payload = identity_claim(CLAIMS, SECRET).partition(".")[0]
    assert read_identity(f"{payload}.{signature}", SECRET) is None


@given(st.text())
def test_any_header_text_reads_as_none(value: str) -> None:
    assert read_identity(value, SECRET) is None
