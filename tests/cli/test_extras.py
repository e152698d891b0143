"""Installed without extras, each command that needs one says in one line which to install
(issue 12, item 1). The optional modules are hidden from a fresh interpreter, as in a venv
that has only ``pip install mm-assistants``."""

from __future__ import annotations

import subprocess
import sys

import pytest

HINT = 'install it with: pip install "mm-assistants[cli]"'
OPTIONAL = ("starlette", "uvicorn", "h11", "rich", "fastapi", "flask")


def without_extras(*argv: str) -> subprocess.CompletedProcess[str]:
    program = (
        "import sys\n"
        f"sys.modules.update(dict.fromkeys({OPTIONAL!r}))  # import of each now fails\n"
        "from mm_assistants.cli.main import main\n"
        f"raise SystemExit(main({list(argv)!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("sandbox", "--port", "0"), id="sandbox"),
        pytest.param(("demo",), id="demo"),
        pytest.param(("demo", "--interactive", "--api", "responses"), id="demo-with-flags"),
    ],
)
def test_a_command_that_needs_an_extra_names_it_in_one_line(argv: tuple[str, ...]) -> None:
    finished = without_extras(*argv)
    assert "Traceback" not in finished.stderr
    assert finished.returncode == 3
    lines = finished.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f'mm-assistants {argv[0]}: this command needs the "cli" extra')
    assert lines[0].endswith(HINT)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("--help",), id="help"),
        pytest.param(("--version",), id="version"),
        pytest.param(("schemas", "list"), id="schemas"),
        pytest.param(("run", "--help"), id="run-help"),
    ],
)
def test_the_core_commands_need_no_extra(argv: tuple[str, ...]) -> None:
    finished = without_extras(*argv)
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == ""
