"""The review package's face: every name of ``__all__`` loads, and the bundled page is
there (or its absence is said plainly)."""

from __future__ import annotations

import pytest

import mm_assistants.review as review
from mm_assistants.review import page


@pytest.mark.parametrize("name", review.__all__)
def test_every_public_name_loads_and_is_documented(name: str) -> None:
    value = getattr(review, name)
    assert value.__doc__


def test_all_is_sorted_and_an_unknown_name_is_an_attribute_error() -> None:
    assert review.__all__ == sorted(review.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        review.nope  # noqa: B018 -- the attribute access is the test


def test_a_missing_page_part_says_to_reinstall() -> None:
    with pytest.raises(RuntimeError, match="missing from the installed package"):
        page._read("nope.html")
