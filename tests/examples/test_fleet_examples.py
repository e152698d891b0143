"""The fleet examples as a user first meets them: ``--help``, a missing setting, a wrong
database password (which must not be printed back). The fleet itself is exercised, with
these same programs, in tests/fleet/test_fleet_processes.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fleet.fleet_support import free_port
from tests.pgcluster import PASSWORD, PostgresCluster

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FLEET = ["fleet_web.py", "fleet_worker.py"]
WRONG = "not-the-password-0451"


def run(name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MM_", "MULTIMAIL_"))}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", FLEET)
def test_fleet_examples_say_what_they_read(name: str) -> None:
    done = run(name, "--help")

    assert done.returncode == 0, done.stderr
    assert "MM_ASSISTANTS_DSN" in done.stdout


@pytest.mark.parametrize("name", FLEET)
def test_fleet_examples_without_a_database_name_the_variable(name: str) -> None:
    done = run(name, MULTIMAIL_MAILBOX_ID="mbx_1", MULTIMAIL_WEBHOOK_SECRET="whsec_x")

    assert done.returncode == 2
    assert "set MM_ASSISTANTS_DSN" in done.stderr


@pytest.mark.parametrize("name", FLEET)
def test_a_wrong_database_password_stops_the_example_without_printing_it(
    name: str, pg_cluster: PostgresCluster
) -> None:
    dsn = pg_cluster.dsn().replace(PASSWORD, WRONG)
    port = ["--port", str(free_port())] if name == "fleet_web.py" else []
    done = run(
        name,
        *port,
        MM_ASSISTANTS_DSN=dsn,
        MULTIMAIL_WEBHOOK_SECRET="whsec_c2VjcmV0LXNpZ25pbmcta2V5-0451",
        MULTIMAIL_MAILBOX_ID="mbx_1",
        MULTIMAIL_API_KEY="mm_live_key_0451",
        OPENAI_API_KEY="sk-test-0451",
    )

    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert said.strip().endswith("authentication failed (check the user and password)")
    assert "Traceback" not in said
    assert PASSWORD not in said
    assert "0451" not in said  # neither the wrong password nor any other secret given
