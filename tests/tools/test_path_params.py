"""Path parameters never leave their segment (issue 11, item 1).

A dot segment survives percent-encoding and is then collapsed by URL normalisation, so
``tag_email {email_id: "..", key: ".."}`` once bound to ``DELETE /v1/mailboxes/mbx_1``.
Every placeholder of every tool (found by `path_cases`, not listed by hand) must refuse
such values before any request, naming the argument.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mm_assistants.tools import ToolArgumentError, load_registry
from mm_assistants.tools.ids import PATH_PARAMETER_KINDS, is_plausible_id, path_value_problem
from tests.tools.path_cases import (
    DEFAULT_MAILBOX,
    HOSTILE_VALUES,
    PathCase,
    fills_exactly,
    path_cases,
)

CASES = [pytest.param(case, id=case.id) for case in path_cases()]


def bind(case: PathCase, value: Any) -> Any:
    return load_registry().bind(case.tool, case.with_value(value), mailbox_id=DEFAULT_MAILBOX)


def refused_or_in_its_segment(case: PathCase, value: str) -> bool:
    """True when binding ``value`` is refused naming the parameter, or keeps the template."""
    try:
        request = bind(case, value)
    except ToolArgumentError as exc:
        return exc.field == case.parameter and str(exc).startswith(case.parameter)
    return fills_exactly(case.template, request.path, value, case.parameter)


def test_the_cases_cover_every_placeholder_of_every_endpoint() -> None:
    registry = load_registry()
    covered = {(case.tool, case.parameter) for case in path_cases()}
    for name in registry:
        for placeholder in re.findall(r"\{(\w+)\}", registry[name].endpoint.path):
            assert (name, placeholder) in covered
    assert ("tag_email", "key") in covered  # the delete action's extra segment


def test_every_placeholder_has_a_kind_and_ids_are_the_default() -> None:
    assert {case.parameter for case in path_cases()} <= set(PATH_PARAMETER_KINDS)
    assert path_value_problem("new_thing_id", "..") is not None
    assert path_value_problem("new_thing_id", "a/b") is not None


@pytest.mark.parametrize("value", ["", ".", ".."], ids=["empty", "dot", "dot-dot"])
@pytest.mark.parametrize("case", CASES)
def test_empty_and_dot_segments_are_refused_naming_the_argument(case: PathCase, value: str) -> None:
    with pytest.raises(ToolArgumentError) as info:
        bind(case, value)
    assert info.value.field == case.parameter
    assert str(info.value).startswith(case.parameter)


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        pytest.param("tag_email", {"email_id": "..", "action": "delete", "key": ".."}, id="tag"),
        pytest.param("reply_email", {"email_id": "..", "markdown": "hi"}, id="reply"),
        pytest.param("delete_contact", {"contact_id": "."}, id="contact"),
        pytest.param("cancel_message", {"email_id": ""}, id="empty-cancel"),
    ],
)
def test_the_reported_attacks_bind_no_request(tool: str, arguments: dict[str, Any]) -> None:
    with pytest.raises(ToolArgumentError):
        load_registry().bind(tool, arguments, mailbox_id="mbx_1")


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=lambda v: repr(v)[:24])
@pytest.mark.parametrize("case", CASES)
def test_hostile_values_are_refused_or_stay_in_their_segment(case: PathCase, value: str) -> None:
    assert refused_or_in_its_segment(case, value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.sampled_from(path_cases()),
    value=st.one_of(
        st.text(max_size=40),
        st.text(alphabet="./\\%2eE\uff0e\u2024 ", max_size=12),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:@+=~-]{0,30}", fullmatch=True),
        st.sampled_from(HOSTILE_VALUES),
    ),
)
def test_a_bound_path_always_has_exactly_the_templates_segments(case: PathCase, value: str) -> None:
    assert refused_or_in_its_segment(case, value)


@pytest.mark.parametrize(
    "value",
    ["mbx_1", "em_v5j7umnez2idzgyqsixq", "3f2b9c1e-6d4a-4a8e-9b1f-0c2d3e4f5a6b", "a", "key.v2"],
)
def test_real_id_shapes_are_plausible(value: str) -> None:
    assert is_plausible_id(value)
    assert path_value_problem("email_id", value) is None


@pytest.mark.parametrize(
    ("parameter", "value", "encoded"),
    [
        pytest.param("filename", "report (final).pdf", "report%20%28final%29.pdf", id="file"),
        pytest.param("filename", "r\u00e9sum\u00e9.pdf", "r%C3%A9sum%C3%A9.pdf", id="unicode"),
        pytest.param("key", "team:sales", "team%3Asales", id="colon-in-key"),
        pytest.param("key", "50 pct", "50%20pct", id="space-in-key"),
        pytest.param("email_address", "x+y@example.com", "x%2By%40example.com", id="address"),
    ],
)
def test_free_text_values_are_accepted_and_fully_encoded(
    parameter: str, value: str, encoded: str
) -> None:
    case = next(case for case in path_cases() if case.parameter == parameter)
    assert bind(case, value).path.endswith(encoded) or f"/{encoded}/" in bind(case, value).path


#: Every character NFKC folds into a path separator or a percent sign (computed, not listed).
FOLDS_TO_SEPARATOR = [
    chr(cp)
    for cp in range(0x80, 0x110000)
    if not 0xD800 <= cp <= 0xDFFF and set(unicodedata.normalize("NFKC", chr(cp))) & set("/\\%")
]


def test_the_look_alikes_of_the_review_are_among_the_folded_separators() -> None:
    for char in "\uff05\ufe6a\u2100\u2101\u2105\u2106\uff0f\uff3c\ufe68":
        assert char in FOLDS_TO_SEPARATOR


@pytest.mark.parametrize("parameter", ["filename", "key"])
@pytest.mark.parametrize("text", ["team/sales", "100%", "a\\b", *FOLDS_TO_SEPARATOR])
def test_a_text_value_never_holds_a_separator_or_a_percent_even_folded(
    parameter: str, text: str
) -> None:
    case = next(case for case in path_cases() if case.parameter == parameter)
    for value in (text, f"a{text}b", text * 2):
        with pytest.raises(ToolArgumentError) as info:
            bind(case, value)
        assert info.value.field == parameter


def test_a_percent_look_alike_cannot_spell_a_dot_segment() -> None:
    assert path_value_problem("filename", "\uff052e\uff052e") is not None
    assert path_value_problem("email_address", "x\uff05@example.com") is not None


def test_a_bad_default_mailbox_is_a_configuration_error_not_a_model_error() -> None:
    with pytest.raises(ValueError, match="default mailbox") as info:
        load_registry().bind("check_inbox", {}, mailbox_id="..")
    assert not isinstance(info.value, ToolArgumentError)
