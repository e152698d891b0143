"""The dispatcher's pure refusals and keys, pinned (issue 14): the idempotency key's exact
format (a golden file: keys already stored must still match after an upgrade), every error
output's shape (a golden file), NaN cleaning that touches only non-finite values, and the
details a refusal gives the model."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mm_assistants.dispatch.policy import (
    MAX_ARGUMENT_CHARS,
    Refusal,
    derive_idempotency_key,
    dumps,
    mailbox_refusal,
    parse_arguments,
    refusal_output,
    schema_refusal,
    tool_refusal,
)
from mm_assistants.tools import load_registry
from tests import golden
from tests.dispatch.conftest import Harness, call

#: Fixed inputs of the idempotency key: (call id, tool, scope ids).
KEY_INPUTS: list[tuple[str, str, list[str | None]]] = [
    ("call_1", "send_email", ["run_1"]),
    ("call_1", "send_email", ["run_2"]),
    ("call_2", "send_email", ["run_1"]),
    ("call_1", "reply_email", ["run_1"]),
    ("call_1", "send_email", []),
    ("call_1", "send_email", [None]),
    ("call_1", "send_email", [None, "resp_1"]),
    ("call_1", "send_email", ["thread_1", "run_1"]),
    ("call_ü", "send_email", ["run_é"]),
    ("call_\ud800", "send_email", ["run_1"]),  # a lone surrogate from a model's id
    ("", "", [""]),
]


def test_the_idempotency_key_format_is_golden() -> None:
    keys = [
        {"call_id": c, "tool": t, "scope_ids": s, "key": derive_idempotency_key(c, t, s)}
        for c, t, s in KEY_INPUTS
    ]
    # ensure_ascii keeps the lone surrogate writable; the file stays byte-stable.
    golden.check_text("idempotency_keys.json", json.dumps(keys, indent=2) + "\n")


def test_the_idempotency_key_separates_its_parts() -> None:
    # "ab" + "c" and "a" + "bc" must not meet: the parts are joined by a separator.
    assert derive_idempotency_key("c", "t", ["ab"]) != derive_idempotency_key("bc", "t", ["a"])
    assert derive_idempotency_key("c", "t", [None]) == derive_idempotency_key("c", "t", [""])
    key = derive_idempotency_key("call_1", "send_email", ["run_1"])
    assert key.startswith("mma_")
    assert len(key) == 44
    assert set(key[4:]) <= set("0123456789abcdef")


def _errors(harness: Harness, api: respx.MockRouter) -> dict[str, Any]:
    api.get("/v1/mailboxes/mbx_1/emails/em_404").respond(404, json={"error": "Email not found"})
    api.get("/v1/mailboxes/mbx_1/emails/em_429").respond(
        429, json={"error": "Warm-up limit", "daily_limit": 20}, headers={"Retry-After": "600"}
    )
    api.get("/v1/mailboxes/mbx_1/emails/em_down").mock(side_effect=httpx.ConnectError("down"))
    api.post("/v1/oversight/decide").mock(side_effect=httpx.ReadTimeout("slow"))
    cases = {
        "invalid_arguments-json": (call("read_email", "{nope"), {}),
        "invalid_arguments-schema": (call("read_email", {"email_id": 7, "extra": 1}), {}),
        "unknown_tool": (call("x" * 2000), {"tools": ["read_email", "send_email"]}),
        "tool_not_allowed": (call("send_email", {}), {"tools": ["read_email", "check_inbox"]}),
        "mailbox_not_allowed": (
            call("check_inbox", {"mailbox_id": "mbx_other"}),
            {"allowed_mailboxes": ["mbx_1", "mbx_2"]},
        ),
        "api_error": (call("read_email", {"email_id": "em_404"}), {}),
        "api_error-rate-limited": (call("read_email", {"email_id": "em_429"}), {}),
        "network_error": (call("read_email", {"email_id": "em_down"}), {}),
        "outcome_unknown": (
            call("decide_email", {"email_id": "em_1", "action": "approve"}),
            {"profile": "reviewer", "mailbox_id": None},
        ),
    }
    answers: dict[str, Any] = {}
    for name, (one, options) in cases.items():
        result = harness.run(one, **options)
        assert not result.ok
        answers[name] = {"error_type": result.error_type, "output": json.loads(result.output)}
    return answers


def test_every_error_output_keeps_its_golden_shape(harness: Harness, api: respx.MockRouter) -> None:
    golden.check("error_outputs.json", _errors(harness, api))


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        pytest.param(
            "send_email",
            Refusal(
                "tool_not_allowed",
                "the tool 'send_email' is not enabled for this assistant",
                [{"available_tools": ["check_inbox", "read_email"]}],
            ),
            id="not-allowed",
        ),
        pytest.param(
            "nope",
            Refusal(
                "unknown_tool",
                "there is no tool named 'nope'",
                [{"available_tools": ["check_inbox", "read_email"]}],
            ),
            id="unknown",
        ),
        pytest.param(
            None,
            Refusal(
                "unknown_tool",
                "there is no tool named 'None'",
                [{"available_tools": ["check_inbox", "read_email"]}],
            ),
            id="not-a-name",
        ),
        pytest.param("read_email", None, id="allowed"),
    ],
)
def test_a_refused_tool_tells_the_model_what_it_may_use(name: Any, refusal: Any) -> None:
    known = set(load_registry())
    assert tool_refusal(name, {"read_email", "check_inbox"}, known) == refusal


def test_a_huge_bogus_tool_name_is_not_echoed_back_whole() -> None:
    refusal = tool_refusal("y" * 1_000_000, {"read_email"}, set(load_registry()))
    assert refusal is not None
    assert refusal.message == f"there is no tool named {'y' * 79 + '…'!r}"


def test_a_refused_mailbox_tells_the_model_which_it_may_use() -> None:
    assert mailbox_refusal("mbx_x", {"mbx_2", "mbx_1"}) == Refusal(
        "mailbox_not_allowed",
        "this assistant may not use mailbox 'mbx_x'",
        [{"allowed_mailboxes": ["mbx_1", "mbx_2"]}],
    )
    long = mailbox_refusal("m" * 500, {"mbx_1"})
    assert long is not None
    assert long.message == f"this assistant may not use mailbox {'m' * 79 + '…'!r}"
    assert mailbox_refusal("mbx_1", {"mbx_1"}) is None
    assert mailbox_refusal("mbx_x", None) is None
    assert mailbox_refusal(None, {"mbx_1"}) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(7, "arguments must be a JSON object encoded as a string", id="not-text"),
        pytest.param("[1]", "arguments must be a JSON object, not list", id="list"),
        pytest.param('"x"', "arguments must be a JSON object, not str", id="string"),
        pytest.param(
            '{"a": NaN}',
            "arguments are not valid JSON: NaN is not valid JSON",
            id="nan",
        ),
        pytest.param(
            '{"a": "\\ud800"}',
            "arguments contain invalid Unicode (lone surrogates)",
            id="surrogate",
        ),
        pytest.param("[" * 100_000, "arguments are nested too deeply", id="deep"),
        pytest.param(
            " " * (MAX_ARGUMENT_CHARS + 1) + "{}",
            f"arguments are {MAX_ARGUMENT_CHARS + 3} characters long; "
            f"the limit is {MAX_ARGUMENT_CHARS}",
            id="too-long",
        ),
    ],
)
def test_unusable_arguments_are_refused_saying_why(text: Any, message: str) -> None:
    assert parse_arguments(text) == Refusal("invalid_arguments", message)


@pytest.mark.parametrize("text", [None, "", "   ", "{}"])
def test_empty_arguments_are_an_empty_object(text: Any) -> None:
    assert parse_arguments(text) == {}


def test_arguments_at_the_limit_are_read() -> None:
    text = "{}" + " " * (MAX_ARGUMENT_CHARS - 2)
    assert parse_arguments(text) == {}


MANY = Draft202012Validator(
    {
        "type": "object",
        "properties": {f"p{n:02d}": {"type": "string"} for n in range(12)}
        | {"list": {"type": "array", "items": {"type": "integer"}}, "word": {"enum": ["x"]}},
    }
)


def test_a_schema_refusal_lists_ten_problems_in_path_order_and_counts_the_rest() -> None:
    arguments = {f"p{n:02d}": n for n in reversed(range(12))}
    refusal = schema_refusal(MANY, arguments)
    assert refusal is not None
    assert refusal.message == "arguments do not match the tool's schema: 12 problem(s) (and 2 more)"
    assert refusal.details == [
        {"path": f"$.p{n:02d}", "rule": "type", "message": f"{n} is not of type 'string'"}
        for n in range(10)
    ]


def test_a_schema_refusal_with_few_problems_says_no_more() -> None:
    refusal = schema_refusal(MANY, {"list": [1, "two"], "p00": "ok"})
    assert refusal == Refusal(
        "invalid_arguments",
        "arguments do not match the tool's schema: 1 problem(s)",
        [{"path": "$.list[1]", "rule": "type", "message": "'two' is not of type 'integer'"}],
    )
    ten = schema_refusal(MANY, {f"p{n:02d}": n for n in range(10)})
    assert ten is not None
    assert ten.message == "arguments do not match the tool's schema: 10 problem(s)"
    assert schema_refusal(MANY, {"p00": "ok"}) is None
    # a quick check that passes skips the walk; one that fails does not hide problems
    assert schema_refusal(MANY, {"p00": 7}, quick_check=lambda _: True) is None
    assert schema_refusal(MANY, {"p00": 7}, quick_check=lambda _: False) == schema_refusal(
        MANY, {"p00": 7}
    )


def test_a_long_schema_message_is_cut_to_300_characters_saying_so() -> None:
    refusal = schema_refusal(MANY, {"word": "e" * 1000})
    assert refusal is not None
    message = refusal.details[0]["message"]
    assert message == "'" + "e" * 298 + "…"
    exact = schema_refusal(MANY, {"word": "e" * 278})  # "'e…e' is not one of ['x']": 300
    assert exact is not None
    assert exact.details[0]["message"] == "'" + "e" * 278 + "' is not one of ['x']"


def test_a_refusal_output_always_has_its_three_keys() -> None:
    assert refusal_output(Refusal("unknown_tool", "no")) == (
        '{"error":{"type":"unknown_tool","message":"no","details":[]}}'
    )


def test_nan_cleaning_touches_only_the_non_finite_values() -> None:
    value = {"a": math.nan, "b": 1.5, "c": [math.inf, 2, "x"], "d": {"e": -math.inf, "f": 0.0}}
    assert dumps(value) == '{"a":null,"b":1.5,"c":[null,2,"x"],"d":{"e":null,"f":0.0}}'
    assert dumps((1, math.nan)) == "[1,null]"
    assert dumps({1: math.nan}) == '{"1":null}'
    assert dumps("é") == '"é"'
    assert dumps({"s": "\ud800", "n": math.nan}) == '{"s":"\\ud800","n":null}'


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and infinities included
    st.text(max_size=5),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)


def _expected(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _expected(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expected(item) for item in value]
    return value


@given(values)
def test_nan_cleaning_changes_only_non_finite_values(value: Any) -> None:
    assert json.loads(dumps(value)) == _expected(value)


class _TooDeep:
    """A validator that, like jsonschema on a deeply nested value, runs out of stack."""

    def iter_errors(self, instance: Any) -> Any:
        raise RecursionError


def test_arguments_too_deep_to_validate_are_refused_saying_so() -> None:
    refusal = schema_refusal(_TooDeep(), {"a": 1})  # type: ignore[arg-type]
    assert refusal == Refusal("invalid_arguments", "arguments are nested too deeply")


def test_the_quick_check_is_asked_about_these_arguments() -> None:
    asked: list[Any] = []

    def quick(arguments: Any) -> bool:
        asked.append(arguments)
        return arguments == {"p00": "ok"}

    assert schema_refusal(MANY, {"p00": "ok"}, quick_check=quick) is None
    assert asked == [{"p00": "ok"}]


def test_one_problem_past_the_ten_listed_is_counted() -> None:
    refusal = schema_refusal(MANY, {f"p{n:02d}": n for n in range(11)})
    assert refusal is not None
    assert refusal.message == (
        "arguments do not match the tool's schema: 11 problem(s) (and 1 more)"
    )


WHEN = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(
            {"when": WHEN, "s": "é"},
            '{"when":"2026-11-22 10:00:00+00:00","s":"é"}',
            id="object-as-text",
        ),
        pytest.param(
            {"n": math.nan, "when": WHEN, "s": "é"},
            '{"n":null,"when":"2026-11-22 10:00:00+00:00","s":"é"}',
            id="nan-object-and-unicode",
        ),
        pytest.param(
            {"s": "\ud800", "when": WHEN},
            '{"s":"\\ud800","when":"2026-11-22 10:00:00+00:00"}',
            id="surrogate-and-object",
        ),
    ],
)
def test_dumps_writes_odd_values_as_text_and_keeps_unicode_readable(value: Any, text: str) -> None:
    assert dumps(value) == text
