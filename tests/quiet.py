"""Silencing exactly the warnings the sandbox's Assistants API causes, for every suite."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

from mm_assistants import _sunset


@contextlib.contextmanager
def quiet_assistants() -> Iterator[None]:
    """Silence what the sandbox's Assistants API makes the SDK and the drivers warn: the
    tests' own Assistants calls warn that the API is deprecated, and the drivers' sunset
    warning fires once per process (reset here, as tests make many drivers). Nothing else."""
    _sunset.reset()
    with warnings.catch_warnings():
        for text in ("The Assistants API is deprecated", "deprecated$"):
            warnings.filterwarnings("ignore", message=text, category=DeprecationWarning)
        warnings.simplefilter("ignore", _sunset.AssistantsSunsetWarning)
        yield
