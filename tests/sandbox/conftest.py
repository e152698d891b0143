"""What every sandbox test shares."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def assistants_deprecation() -> Iterator[None]:
    # Every client.beta call warns that the Assistants API is deprecated (with the text
    # below, or just "deprecated"); the emulator exists to serve that API, so these tests
    # silence exactly those warnings.
    with warnings.catch_warnings():
        for text in ("The Assistants API is deprecated", "deprecated$"):
            warnings.filterwarnings("ignore", message=text, category=DeprecationWarning)
        yield
