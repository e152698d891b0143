"""The wheel carries the schemas: build it, install it in a fresh venv, load from it."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, mm_assistants, mm_assistants.tools as t
from mm_assistants.tools.schemas import schema_dir
registry = t.load_registry("v1")
print(json.dumps({"file": mm_assistants.__file__, "tools": len(registry),
                  "schemas": str(schema_dir("v1"))}))
"""


@pytest.mark.slow
def test_the_wheel_ships_the_schemas_and_loads_them(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("mm_assistants-*.whl")
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    # The fresh venv gets its dependencies (not the project) from this environment.
    deps = sysconfig.get_paths()["purelib"]
    result = subprocess.run(
        [str(python), "-c", PROBE],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": deps, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    import json

    info = json.loads(result.stdout)
    assert info["tools"] == 38
    assert info["file"].startswith(str(env_dir))
    assert info["schemas"].startswith(str(env_dir))
