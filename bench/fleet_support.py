"""What the fleet benchmarks share: a throwaway PostgreSQL, worker processes, request counts.

`with_postgres` turns ``measure(sandbox, config, dsn)`` into the harness's
``measure(sandbox, config)``: it starts a throwaway cluster on loopback (the tests' own,
`tests.pgcluster.PostgresCluster`: ``initdb`` + ``pg_ctl`` in a temp folder, run as the
``postgres`` user when root), hands over the DSN of a fresh database with the schema in
place, and stops the cluster afterwards whatever happens. Where PostgreSQL cannot be had
(not installed, no ``postgres`` user, no psycopg) the benchmark's one row says
``skipped: <reason>`` instead of failing the run.

`Workers` starts processes with the ``spawn`` method (a fresh interpreter each: no pool,
thread or socket of this process leaks into them, as in a real fleet) and always stops
them: terminate, then kill, each wait bounded. Workers report on one `multiprocessing`
queue; `Workers.expect` reads it with a deadline, so a lost worker is an error, never a
hang.
"""

from __future__ import annotations

import multiprocessing
import queue
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

from bench.harness import Measured, Row
from mm_assistants.sandbox import Sandbox

ConfigT = TypeVar("ConfigT")
STOP_TIMEOUT = 5.0  # seconds a worker gets to end after terminate, then after kill


class Unavailable(Exception):
    """PostgreSQL cannot be had here; the message says why (never a DSN)."""


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A running throwaway cluster's fresh database, schema created: its DSN (a secret of
    this run: never print it). `Unavailable` when no cluster can be started."""
    try:
        import psycopg  # noqa: F401 -- only to learn whether the postgres extra is installed
    except ImportError as error:
        raise Unavailable("psycopg is not installed (pip install -e '.[postgres]')") from error
    # The cluster of the tests (bench/ and tests/ are both this repository's tooling).
    from tests.pgcluster import PostgresCluster, why_unavailable

    reason = why_unavailable()
    if reason is not None:
        raise Unavailable(reason)
    cluster = PostgresCluster()
    try:
        cluster.start()
    except (OSError, subprocess.SubprocessError) as error:
        cluster.stop()
        # the command line and its output name folders and the user, never the password
        raise Unavailable(f"the throwaway PostgreSQL did not start: {str(error)[:200]}") from error
    try:
        dsn = cluster.fresh_dsn()
        from mm_assistants.state.postgres.connection import PostgresDatabase

        database = PostgresDatabase(dsn)
        try:
            database.ensure_schema()
        finally:
            database.close()
        yield dsn
    finally:
        cluster.stop()


def with_postgres(
    title: str, measure: Callable[[Sandbox, ConfigT, str], Measured]
) -> Callable[[Sandbox, ConfigT], Measured]:
    """The harness's ``measure`` for a benchmark that needs PostgreSQL (module docstring)."""

    def run(sandbox: Sandbox, config: ConfigT) -> Measured:
        with ExitStack() as stack:
            try:
                dsn = stack.enter_context(throwaway_postgres())
            except Unavailable as why:  # only the start: a failure later is the run's error
                return skipped(title, str(why))
            return measure(sandbox, config, dsn)
        raise AssertionError("unreachable")  # ExitStack swallows nothing

    return run


def skipped(title: str, reason: str) -> Measured:
    """The one row of a benchmark that could not run here, and why."""
    row = Row(
        benchmark=title,
        library=f"skipped: {reason}",
        baseline="-",
        ratio=None,
        target=None,
        met=None,
    )
    return Measured((row,), {"skipped": reason})


def multimail_requests(sandbox: Sandbox) -> dict[str, int]:
    """The MultiMail requests the sandbox has served so far, per route and ``total``."""
    snapshot = sandbox.counters.snapshot()
    counts = {str(key): int(value) for key, value in snapshot["routes"].items()}
    counts["total"] = int(snapshot["total"])
    return counts


def difference(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    """The requests between two `multimail_requests` snapshots (routes that moved only)."""
    moved = {key: after[key] - before.get(key, 0) for key in after}
    return {key: count for key, count in sorted(moved.items()) if count}


class Workers:
    """Worker processes (spawned) and the queue they report on; a context manager that
    stops every one of them on the way out."""

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.reports: Any = self.context.Queue()
        self.processes: list[Any] = []

    def start(self, target: Callable[..., None], *args: Any, name: str) -> Any:
        """Start ``target(reports, *args)`` in a new process."""
        process = self.context.Process(
            target=target, args=(self.reports, *args), name=name, daemon=True
        )
        process.start()
        self.processes.append(process)
        return process

    def expect(self, kind: str, timeout: float) -> dict[str, Any]:
        """The next report; a report of another ``kind`` (an ``error`` included) or none
        within ``timeout`` seconds is a `RuntimeError`."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"no {kind!r} report from a worker within {timeout:g} s")
            try:
                report: dict[str, Any] = self.reports.get(timeout=min(left, 0.5))
            except queue.Empty:
                dead = [p for p in self.processes if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(
                        f"worker {dead[0].name} exited {dead[0].exitcode} while waiting "
                        f"for {kind!r}"
                    ) from None
                continue
            if report.get("kind") != kind:
                raise RuntimeError(f"a worker reported {report!r} while {kind!r} was expected")
            return report

    def stop(self) -> None:
        """End every worker still alive: terminate, then kill; bounded waits."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(STOP_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join(STOP_TIMEOUT)
        self.reports.close()
        self.reports.join_thread()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def report_errors(reports: Any, work: Callable[[], None]) -> None:
    """Run a worker's ``work``; an exception becomes an ``error`` report (its type and a
    bounded message) before the process ends, so the benchmark says what went wrong."""
    try:
        work()
    except BaseException as error:  # reported to the parent, then raised again
        reports.put({"kind": "error", "error": f"{type(error).__name__}: {str(error)[:300]}"})
        raise


def free_port() -> int:
    """A loopback port free at this moment (for a server that must be subscribed first)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
