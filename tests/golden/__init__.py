"""Golden files: outputs whose exact form is a compatibility promise (issue 14).

Each ``*.json`` here was generated once from the code and is compared byte for byte. A test
that fails against one means a promise changed: idempotency keys that no longer match the
ones already stored, a model-facing answer in a new shape, a tool definition the model was
not given before. If the change is intended, regenerate on purpose and review the diff:

    MM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -p no:cacheprovider <the failing test>
"""

from __future__ import annotations

import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
UPDATE = "MM_UPDATE_GOLDEN"


def dumps(data: object) -> str:
    """The canonical text of a golden JSON file (sorted keys, two spaces, final newline)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def check_text(name: str, text: str) -> None:
    """Assert that ``text`` is the golden file ``name`` byte for byte (or write it, when
    MM_UPDATE_GOLDEN=1)."""
    path = HERE / name
    if os.environ.get(UPDATE) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        return
    how = f"if the change is intended, regenerate with {UPDATE}=1 (see tests/golden/__init__.py)"
    assert path.exists(), f"golden file {path.relative_to(HERE.parent)} is missing: {how}"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{path.relative_to(HERE.parent)} no longer matches: {how}"


def check(name: str, data: object) -> None:
    """Assert that ``data`` serialises to the golden JSON file ``name``."""
    check_text(name, dumps(data))
