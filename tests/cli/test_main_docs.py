"""The command lists only modules it ships: a missing one is a broken install, not "not
built yet" (issue 13, item 9)."""

from __future__ import annotations

import inspect

import pytest

from mm_assistants.cli import main


def test_no_comment_says_a_subcommand_is_not_built_yet() -> None:
    assert "not built yet" not in inspect.getsource(main)


def test_a_missing_subcommand_module_is_a_broken_install(monkeypatch: pytest.MonkeyPatch) -> None:
    modules = (*main.SUBCOMMAND_MODULES, ("mm_assistants.cli.no_such_cmd", ("nothing",)))
    monkeypatch.setattr(main, "SUBCOMMAND_MODULES", modules)
    with pytest.raises(ModuleNotFoundError, match="no_such_cmd"):
        main.build_parser()
