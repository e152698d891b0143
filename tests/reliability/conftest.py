"""Fixtures of the reliability suite (helpers are in `tests.reliability.support`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.support import quiet_assistants


@pytest.fixture(autouse=True)
def quiet_assistants_warnings() -> Iterator[None]:
    # The sandbox serves the Assistants API on purpose: see `quiet_assistants`.
    with quiet_assistants():
        yield
