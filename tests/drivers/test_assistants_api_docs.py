"""Every public method of the Assistants wire says what it does (issue 13, item 9)."""

from __future__ import annotations

import inspect

import pytest

from mm_assistants.drivers.assistants_api import AssistantsAPI, AsyncAssistantsAPI


@pytest.mark.parametrize("cls", [AssistantsAPI, AsyncAssistantsAPI])
def test_public_methods_have_docstrings(cls: type) -> None:
    assert inspect.getdoc(cls)
    public = [name for name, _ in inspect.getmembers(cls, inspect.isfunction)]
    public = [name for name in public if not name.startswith("_")]
    assert len(public) >= 10
    assert [name for name in public if not inspect.getdoc(getattr(cls, name))] == []
