"""What every test shares: library state kept in the test's own folder."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgcluster import PostgresCluster, why_unavailable
from tests.redis_server import RedisServer
from tests.redis_server import why_unavailable as why_redis_unavailable

_COUNT = itertools.count()


@pytest.fixture(autouse=True)
def private_state_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A fresh ``MM_ASSISTANTS_STATE_DIR`` per test (the webhook receiver's default replay
    memory lives there), so no test writes to the user's home or sees another's deliveries.
    The folder is made only when something opens a file in it."""
    folder = tmp_path_factory.getbasetemp() / "state" / str(next(_COUNT))
    monkeypatch.setenv("MM_ASSISTANTS_STATE_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def no_mailbox_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dispatcher given no ``mailbox_id`` reads ``MULTIMAIL_MAILBOX_ID``: a developer who
    exported the sandbox's lines must not change what the tests' dispatchers may reach."""
    monkeypatch.delenv("MULTIMAIL_MAILBOX_ID", raising=False)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster on loopback for the whole session (tests/pgcluster.py);
    the test skips, saying why, only where PostgreSQL cannot be had."""
    reason = why_unavailable()
    if reason is not None:
        pytest.skip(reason)
    cluster = PostgresCluster()
    try:
        cluster.start()
    except (OSError, subprocess.SubprocessError) as error:
        cluster.stop()
        pytest.skip(f"a throwaway PostgreSQL cluster could not be started: {error}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_dsn(pg_cluster: PostgresCluster) -> str:
    """The DSN of a fresh, empty database on the session's cluster."""
    return pg_cluster.fresh_dsn()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A throwaway redis-server on loopback for one test (tests/redis_server.py); the test
    skips, saying why, only where redis-server cannot be had."""
    reason = why_redis_unavailable()
    if reason is not None:
        pytest.skip(reason)
    server = RedisServer()
    try:
        server.start()
    except (OSError, subprocess.SubprocessError) as error:
        server.close()
        pytest.skip(f"a throwaway redis-server could not be started: {error}")
    try:
        yield server
    finally:
        server.close()
