"""`Dispatcher`'s docstring lists every option it takes (issue 13, item 9)."""

from __future__ import annotations

import inspect

import pytest

from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.dispatch.core import DispatcherCore


def options(cls: type) -> set[str]:
    """The keyword-only parameters of a class and of the core it builds on."""
    names: set[str] = set()
    for klass in (cls, DispatcherCore):
        for parameter in inspect.signature(klass.__init__).parameters.values():
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
                names.add(parameter.name)
    return names


@pytest.mark.parametrize("cls", [Dispatcher, AsyncDispatcher])
def test_every_option_is_documented(cls: type) -> None:
    doc = inspect.getdoc(Dispatcher) or ""
    assert "approval_hub" in options(cls)  # the table below is not empty
    assert sorted(name for name in options(cls) if f"``{name}``" not in doc) == []


def test_the_mailbox_scope_words_are_documented() -> None:
    doc = inspect.getdoc(Dispatcher) or ""
    for word in ("ANY_MAILBOX", "MULTIMAIL_MAILBOX_ID", "mailbox_id=None"):
        assert word in doc
