"""examples/celery_app.py, the README's "Scale out on Celery": it loads as the user loads
it (``celery -A examples.celery_app ...``, ``uvicorn --factory examples.celery_app:web_app``)
and configures the fleet's tasks, queue, clocks and beat entry without connecting to
anything: its broker and database here are closed ports. (The same wiring runs for real,
workers and all, in tests/celery/test_fleet_e2e.py.)"""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("celery", reason="the celery extra is not installed")

ROOT = Path(__file__).resolve().parents[2]
MODULE = "examples.celery_app"
BROKER_PASSWORD = "broker-pw-never-shown"
DB_PASSWORD = "db-pw-never-shown"
NAMES = ("route_inbound", "start_run", "resume_run", "sweep")


@pytest.fixture
def closed_ports(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Broker and database at ports nobody listens on (9: discard), dummy API keys."""
    env = {
        "CELERY_BROKER_URL": f"redis://:{BROKER_PASSWORD}@127.0.0.1:9/0",
        "MM_ASSISTANTS_DSN": f"postgresql://fleet:{DB_PASSWORD}@127.0.0.1:9/fleet",
        "OPENAI_API_KEY": "sk-not-used",
        "MULTIMAIL_API_KEY": "mm_live_not_used",
        "MULTIMAIL_WEBHOOK_SECRET": "whsec-test",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def example(closed_ports: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(ROOT))
    sys.modules.pop(MODULE, None)
    yield importlib.import_module(MODULE)
    sys.modules.pop(MODULE, None)


def test_the_example_registers_the_fleet_tasks_on_its_queue_with_a_beat_sweep(
    example: ModuleType,
) -> None:
    app = example.app
    for name in NAMES:
        task = app.tasks[f"mm_assistants.{name}"]
        assert task.acks_late
        assert task.ignore_result
        assert app.conf.task_routes[task.name] == {"queue": "mm-assistants"}
    assert example.tasks.queue == "mm-assistants"
    entry = app.conf.beat_schedule["mm-assistants-sweep"]
    assert (entry["task"], entry["schedule"]) == ("mm_assistants.sweep", 30.0)
    times = example.tasks.times  # soft limit < lease < visibility timeout: no warning
    assert (
        times.soft_time_limit
        < example.LEASE
        < app.conf.broker_transport_options["visibility_timeout"]
    )
    assert example.tasks.work._work is None  # nothing built, nothing connected at import


def test_celery_loads_the_example_as_a_user_types_it_and_never_shows_the_password(
    closed_ports: dict[str, str],
) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", MODULE, "report"],
        cwd=ROOT, env={**_environ(), **closed_ports}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30  # it did not wait for the closed broker
    for name in NAMES:
        assert f"'mm_assistants.{name}': {{'queue': 'mm-assistants'}}" in done.stdout
    assert "mm-assistants-sweep" in done.stdout
    assert BROKER_PASSWORD not in done.stdout + done.stderr


def test_the_web_side_verifies_deliveries_before_touching_the_database(
    example: ModuleType,
) -> None:
    from starlette.testclient import TestClient

    from mm_assistants.celery import RingingWebhookReceiver

    web = example.web_app()  # built without connecting: the database is only reached on use
    [route] = web.routes
    assert route.path == "/multimail/webhooks"
    body = b'{"event": "message.received", "data": {"email_id": "em_1"}}'
    client = TestClient(web)  # no lifespan: no schema check against the closed database
    forged = client.post(route.path, content=body, headers={"X-MultiMail-Signature": "bad"})
    assert forged.status_code == 401  # refused on its signature, nothing admitted
    assert DB_PASSWORD not in forged.text
    assert any(isinstance(v, RingingWebhookReceiver) for v in _closure_values(route.endpoint))


def _closure_values(function: object) -> list[object]:
    cells = getattr(function, "__closure__", None) or ()
    return [cell.cell_contents for cell in cells]


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("MM_ASSISTANTS_")}


def test_the_examples_clocks_nest_as_install_checks_them(example: ModuleType) -> None:
    """Review 16 H6: the route lease was PostgresState's 900 s default, the checkpoint
    lease the whole lease and park_after two thirds of the soft limit."""
    from mm_assistants.celery.config import clocks_of
    from mm_assistants.celery.tasks import check_work

    work = example.build_work()  # nothing connects: the pool and the hub are lazy
    try:
        clocks = clocks_of(work)
        assert clocks.route_lease == example.LEASE == 60
        assert clocks.checkpoint_lease == 30
        assert clocks.park_after == 15
        assert clocks.parks is True
        assert check_work(work, example.tasks.times) == []
    finally:
        work.decisions.database.close()
    assert example.app.conf.worker_cancel_long_running_tasks_on_connection_loss is False
