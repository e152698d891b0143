"""The library's one Assistants sunset warning points at the user's own line."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from unittest import mock

import pytest

from mm_assistants import AssistantsRunDriver, _sunset


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    _sunset.reset()
    yield
    _sunset.reset()


def test_the_warning_names_the_line_that_made_the_driver() -> None:
    with pytest.warns(_sunset.AssistantsSunsetWarning) as caught:
        AssistantsRunDriver(mock.Mock(), mock.Mock())
    assert caught[0].filename == __file__


def test_it_is_shown_once_per_process() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AssistantsRunDriver(mock.Mock(), mock.Mock())
        AssistantsRunDriver(mock.Mock(), mock.Mock())
    assert [w.category for w in caught] == [_sunset.AssistantsSunsetWarning]
