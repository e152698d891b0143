"""The compiled quick check never calls arguments valid that the reference validator
refuses (a differential property over every tool), and it does answer the common case."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mm_assistants import load_registry

REGISTRY = load_registry("v1")
NAMES = sorted(REGISTRY)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "a@b.example", "no-at-sign", "set", "get", "x" * 1000, "2026-01-01"]),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["key", "value", "name", "x"]), inner, max_size=3),
    ),
    max_leaves=8,
)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values shaped by ``schema``'s types (often valid, sometimes not quite)."""
    kinds = schema.get("type", [])
    options: list[st.SearchStrategy[Any]] = [values]  # now and then, anything at all
    for kind in kinds if isinstance(kinds, list) else [kinds]:
        if kind == "null":
            options.append(st.none())
        elif kind == "string":
            enum = schema.get("enum")
            options.append(st.sampled_from([e for e in enum if e is not None]) if enum else scalars)
            options.append(st.sampled_from(["a@b.example", "em_1", "x" * 300]))
        elif kind in ("integer", "number"):
            options.append(st.integers(min_value=-5, max_value=500))
        elif kind == "boolean":
            options.append(st.booleans())
        elif kind == "array":
            options.append(st.lists(from_schema(schema.get("items", {})), max_size=3))
        elif kind == "object":
            properties = schema.get("properties", {})
            options.append(
                st.fixed_dictionaries(
                    {}, optional={k: from_schema(v) for k, v in properties.items()}
                )
            )
    return st.one_of(*options)


@st.composite
def near_arguments(draw: st.DrawFn) -> tuple[str, Any]:
    """A tool and arguments shaped by its schema: valid ones and near misses."""
    name = draw(st.sampled_from(NAMES))
    parameters = REGISTRY[name].parameters
    properties = parameters.get("properties", {})
    required = set(parameters.get("required", []))
    arguments = {}
    for key, schema in properties.items():
        if key in required or draw(st.booleans()):
            arguments[key] = draw(from_schema(schema))
    if draw(st.integers(0, 9)) == 0:
        arguments["extra"] = draw(values)
    return name, arguments


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_arguments())
def test_quick_valid_implies_reference_valid(case: tuple[str, Any]) -> None:
    name, arguments = case
    spec = REGISTRY[name]
    if spec.quick_check(arguments):
        assert spec.validator.is_valid(arguments), (name, arguments)


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("read_email", {"email_id": "em_1", "mailbox_id": None}),
        ("read_email", {"email_id": "em_1"}),
        (
            "send_email",
            {
                "to": ["bob@example.com"],
                "subject": "Hi",
                "markdown": "Hello",
                "cc": None,
                "bcc": None,
                "attachments": None,
                "idempotency_key": None,
                "send_at": None,
                "gate_timing": None,
                "mailbox_id": None,
            },
        ),
    ],
)
def test_valid_calls_take_the_quick_path(name: str, arguments: dict[str, Any]) -> None:
    spec = REGISTRY[name]
    assert spec.validator.is_valid(arguments)
    assert spec.quick_check(arguments)


def test_an_email_format_is_judged_like_the_reference() -> None:
    spec = REGISTRY["send_email"]
    bad = {"to": ["not-an-address"], "subject": "s", "markdown": "m"}
    assert not spec.validator.is_valid(bad)
    assert not spec.quick_check(bad)
