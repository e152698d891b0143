"""One set of rules for every policy's values (issue 13, item 4): a table over the fields
of `ApprovalPolicy`, `PollPolicy` and `RetryPolicy`, and the sync/async mix check."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from mm_assistants import _validate
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.drivers import PollPolicy
from mm_assistants.multimail import RetryPolicy

NAN, INF = math.nan, math.inf

#: Each field and its rule: ">=0", ">0", ">=1" (a finite number), "0..1" (a fraction),
#: "int>=1" (a whole count), "switch" (True or False) or "none|>0" (None, or a finite
#: number above 0).
FIELDS: list[tuple[type, str, str]] = [
    (ApprovalPolicy, "max_wait", ">=0"),
    (ApprovalPolicy, "margin", ">=0"),
    (ApprovalPolicy, "first_delay", ">0"),
    (ApprovalPolicy, "max_interval", ">0"),
    (ApprovalPolicy, "multiplier", ">=1"),
    (ApprovalPolicy, "wait", "switch"),
    (ApprovalPolicy, "park_after", "none|>0"),
    (PollPolicy, "first_interval", ">0"),
    (PollPolicy, "max_interval", ">0"),
    (PollPolicy, "multiplier", ">=1"),
    (PollPolicy, "min_interval", ">0"),
    (PollPolicy, "max_hint", ">0"),
    (PollPolicy, "learn", "switch"),
    (RetryPolicy, "max_attempts", "int>=1"),
    (RetryPolicy, "initial_delay", ">=0"),
    (RetryPolicy, "max_delay", ">=0"),
    (RetryPolicy, "multiplier", ">=1"),
    (RetryPolicy, "jitter", "0..1"),
    (RetryPolicy, "max_retry_after", ">=0"),
]

#: Values every number field refuses, whatever its bound.
NOT_NUMBERS: list[Any] = [NAN, INF, -INF, True, False, "1", None]
REFUSED: dict[str, list[Any]] = {
    ">=0": [*NOT_NUMBERS, -0.001, -1],
    ">0": [*NOT_NUMBERS, 0, 0.0, -1],
    ">=1": [*NOT_NUMBERS, 0.999, 0, -2],
    "0..1": [*NOT_NUMBERS, -0.1, 1.01],
    "int>=1": [NAN, INF, True, "1", None, 0, -1, 2.5, 2.0],
    "switch": [1, 0, "yes", None, 1.0],
    "none|>0": [NAN, INF, -INF, True, False, "1", 0, 0.0, -1],
}
ACCEPTED: dict[str, list[Any]] = {
    ">=0": [0, 0.0, 3, 2.5],
    ">0": [0.05, 1, 2.5],
    ">=1": [1, 1.0, 2, 7.5],
    "0..1": [0, 0.5, 1],
    "int>=1": [1, 4],
    "switch": [True, False],
    "none|>0": [None, 0.05, 1, 2.5],
}


def _cases(table: dict[str, list[Any]]) -> list[Any]:
    return [
        pytest.param(policy, field, value, id=f"{policy.__name__}.{field}={value!r}")
        for policy, field, rule in FIELDS
        for value in table[rule]
    ]


@pytest.mark.parametrize(("policy", "field", "value"), _cases(REFUSED))
def test_every_policy_refuses_what_its_rule_refuses_in_the_same_words(
    policy: type, field: str, value: Any
) -> None:
    rule = {(p, f): r for p, f, r in FIELDS}[policy, field]
    error = TypeError if rule == "switch" else ValueError
    with pytest.raises(error) as caught:
        policy(**{field: value})
    assert str(caught.value).startswith(f"{policy.__name__}.{field} must be ")
    assert str(caught.value).endswith(f"got {value!r}")


@pytest.mark.parametrize(("policy", "field", "value"), _cases(ACCEPTED))
def test_every_policy_accepts_what_its_rule_accepts(policy: type, field: str, value: Any) -> None:
    assert getattr(policy(**{field: value}), field) == value


def test_the_table_covers_every_field_of_the_three_policies() -> None:
    import dataclasses

    for policy in (ApprovalPolicy, PollPolicy, RetryPolicy):
        listed = {field for p, field, _ in FIELDS if p is policy}
        assert listed == {f.name for f in dataclasses.fields(policy)}


def test_a_poll_policy_whose_shortest_hint_exceeds_its_longest_is_refused() -> None:
    with pytest.raises(ValueError, match="min_interval must not exceed max_hint"):
        PollPolicy(min_interval=5.0, max_hint=1.0)


class Blocking:
    def send(self) -> None:
        """A plain method."""


class Awaiting:
    async def send(self) -> None:
        """A coroutine function."""


@pytest.mark.parametrize(
    ("value", "flavour"),
    [
        pytest.param(Blocking(), "sync", id="method"),
        pytest.param(Awaiting(), "async", id="coroutine"),
        pytest.param(object(), None, id="missing"),
        pytest.param(None, None, id="none"),
    ],
)
def test_flavour_of_tells_only_what_it_can_see(value: object, flavour: str | None) -> None:
    assert _validate.flavour_of(value, "send") == flavour


def test_a_mix_is_refused_saying_what_to_pass_instead() -> None:
    with pytest.raises(TypeError) as caught:
        _validate.refuse_mix(
            "Owner", "client", Awaiting(), found="async", wanted="sync", instead="pass X"
        )
    assert str(caught.value) == "Owner blocks and cannot use an Awaiting as its client: pass X"
    _validate.refuse_mix("Owner", "client", None, found=None, wanted="sync", instead="")
    asyncio.run(Awaiting().send())  # the double itself works
