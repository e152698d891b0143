"""`make browser`, the step of `make test` that installs Debian's Chromium for the review
page's browser test: best effort, so a machine without the Debian mirror still passes.

Each test runs the real Makefile target with stub ``apt-get`` and ``id`` commands first on
``PATH`` and ``CHROMEDRIVER`` pointed at a path of the test's own.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")

#: A stub ``apt-get``: notes each call, then does what the test's ``APT_*`` variables say.
APT_GET = """#!/bin/sh
echo "$*" >> "$CALLS"
case "$1" in
  update) [ -n "$APT_UPDATE_SLEEP" ] && sleep "$APT_UPDATE_SLEEP"; exit "${APT_UPDATE_EXIT:-0}" ;;
  install) [ -n "$APT_INSTALL_MAKES" ] && : > "$APT_INSTALL_MAKES" && chmod +x "$APT_INSTALL_MAKES"
           exit "${APT_INSTALL_EXIT:-0}" ;;
esac
"""


def executable(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def make_browser(
    tmp_path: Path, *, uid: int = 0, apt: bool = True, timeout: float = 60, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``make browser`` as user ``uid``; its result and the stub apt-get's calls."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    executable(stubs / "id", f"#!/bin/sh\necho {uid}\n")
    if apt:
        executable(stubs / "apt-get", APT_GET)
        path = f"{stubs}:/usr/bin:/bin"
    else:  # no apt-get anywhere: only the few tools the recipe needs
        for tool in ("timeout", "sleep", "chmod"):
            found = shutil.which(tool)
            assert found is not None
            os.symlink(found, stubs / tool)
        path = str(stubs)
    calls = tmp_path / "calls"
    driver = tmp_path / "chromedriver"
    result = subprocess.run(
        [str(MAKE), "--no-print-directory", "-C", str(ROOT), "browser", f"CHROMEDRIVER={driver}"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        # a clean environment (no MAKEFLAGS from an outer `make test`); the Makefile takes
        # its APT_*_TIMEOUT bounds from it
        env={"PATH": path, "CALLS": str(calls), "HOME": str(tmp_path), **env},
    )
    made = calls.read_text("utf-8").splitlines() if calls.exists() else []
    return result, made


def the_note(result: subprocess.CompletedProcess[str]) -> str:
    """The one ``note:`` line the target printed."""
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert len(notes) == 1, result.stdout
    assert "browser test will skip" in notes[0]
    return notes[0]


def test_no_mirror_prints_a_note_and_the_build_goes_on(tmp_path: Path) -> None:
    result, calls = make_browser(tmp_path, APT_UPDATE_EXIT="100")
    note = the_note(result)
    assert "apt-get update failed" in note
    assert "mirror" in note
    assert calls == ["update -qq"]  # no install after a failed update


def test_a_failed_install_prints_a_note_and_the_build_goes_on(tmp_path: Path) -> None:
    result, calls = make_browser(tmp_path, APT_INSTALL_EXIT="100")
    note = the_note(result)
    assert "apt-get install chromium chromium-driver failed" in note
    assert calls == ["update -qq", "install -y -qq chromium chromium-driver"]


def test_a_hanging_mirror_is_given_up_on_in_bounded_time(tmp_path: Path) -> None:
    started = time.monotonic()
    result, _ = make_browser(tmp_path, APT_UPDATE_SLEEP="30", APT_UPDATE_TIMEOUT="1", timeout=25)
    note = the_note(result)
    assert "took over 1 s" in note
    assert time.monotonic() - started < 20


def test_without_root_nothing_is_installed(tmp_path: Path) -> None:
    result, calls = make_browser(tmp_path, uid=1000)
    assert "needs root" in the_note(result)
    assert calls == []


def test_without_apt_get_nothing_is_installed(tmp_path: Path) -> None:
    result, _ = make_browser(tmp_path, apt=False)
    assert "no apt-get" in the_note(result)


def test_an_installed_driver_is_left_alone(tmp_path: Path) -> None:
    executable(tmp_path / "chromedriver", "#!/bin/sh\n")
    result, calls = make_browser(tmp_path)
    assert (result.returncode, result.stdout, calls) == (0, "", [])


def test_with_a_mirror_it_installs_chromium_and_its_driver(tmp_path: Path) -> None:
    result, calls = make_browser(tmp_path, APT_INSTALL_MAKES=str(tmp_path / "chromedriver"))
    assert result.returncode == 0, result.stderr
    assert "note:" not in result.stdout
    assert calls == ["update -qq", "install -y -qq chromium chromium-driver"]
    assert (tmp_path / "chromedriver").is_file()


def test_schemas_manifest_writes_every_version_and_keeps_v1s_bytes(tmp_path: Path) -> None:
    """`make schemas-manifest` rewrites the manifest of every set in SCHEMA_VERSIONS; run on
    a copy of schemas/, v1's comes out byte-identical and a missing v2 one comes back."""
    from mm_assistants.tools.schemas import SCHEMA_VERSIONS

    shown = subprocess.run(
        [
            *(str(MAKE), "-n", "--no-print-directory", "-C", str(ROOT), "schemas-manifest"),
            f"BIN={Path(sys.executable).parent}",  # this interpreter, run from the copy
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout
    recipe = [line for line in shown.splitlines() if "write_manifest" in line]
    assert len(recipe) == 1, shown
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    (tmp_path / "schemas" / "v2" / "manifest.json").unlink()
    done = subprocess.run(
        recipe[0], shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == len(SCHEMA_VERSIONS) >= 2
    for version in SCHEMA_VERSIONS:
        written = tmp_path / "schemas" / version / "manifest.json"
        assert written.read_bytes() == (ROOT / "schemas" / version / "manifest.json").read_bytes()
