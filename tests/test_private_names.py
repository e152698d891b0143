"""No module reaches into another object's private names (issue 13, item 3): ruff's SLF001
is on for the package, and the package has no hit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_selects_the_private_member_rule() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "SLF" in lint["select"] or "SLF001" in lint["select"]
    assert "SLF001" not in lint.get("ignore", [])


def test_the_package_uses_no_private_name_of_another_object() -> None:
    pytest.importorskip("ruff")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--select",
            "SLF001",
            "--output-format",
            "concise",
            "mm_assistants",
            "bench",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
