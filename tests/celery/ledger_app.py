"""A Celery app for the worker tests: `install` over a small stand-in for `FleetWork`
whose keys live in one PostgreSQL table (``MM_TEST_DSN``), so the tests see on real
services what the Celery shell does: which process built its Work, which task ran a key,
and which found it busy. Broker: ``MM_TEST_BROKER``; a run holds its claim for
``MM_TEST_HOLD`` seconds."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from celery import Celery

from mm_assistants.celery import install

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (key text PRIMARY KEY, state text NOT NULL);
CREATE TABLE IF NOT EXISTS visits (key text, action text, pid int, at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS builds (pid int, at timestamptz DEFAULT now());
"""


@dataclass(frozen=True)
class Result:
    action: str
    mm_thread: str | None = None


@dataclass
class Plan:
    threads: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)


class LedgerWork:
    """admit queues a key; route_inbound claims it (busy when it is not queued), holds
    it for MM_TEST_HOLD seconds, and marks it done; sweep lists the queued keys."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute(SCHEMA)
        self.conn.execute("INSERT INTO builds (pid) VALUES (%s)", (os.getpid(),))

    def admit(self, key: str) -> Result:
        cursor = self.conn.execute(
            "INSERT INTO ledger VALUES (%s, 'queued') ON CONFLICT DO NOTHING", (key,)
        )
        return Result("queued", key) if cursor.rowcount else Result("duplicate")

    def route_inbound(self, key: str) -> Result:
        claimed = self.conn.execute(
            "UPDATE ledger SET state = 'claimed' WHERE key = %s AND state = 'queued'", (key,)
        ).rowcount
        if not claimed:
            self.visit(key, "busy")
            return Result("busy")
        time.sleep(float(os.environ.get("MM_TEST_HOLD", "0")))
        self.conn.execute("UPDATE ledger SET state = 'done' WHERE key = %s", (key,))
        self.visit(key, "finished")
        return Result("finished")

    def start_run(self, key: str) -> Result:
        return self.route_inbound(key)

    def resume_run(self, checkpoint_id: str) -> Result:
        return Result("gone")

    def sweep(self, *, limit: int = 100) -> Plan:
        rows = self.conn.execute(
            "SELECT key FROM ledger WHERE state = 'queued' ORDER BY key LIMIT %s", (limit,)
        ).fetchall()
        return Plan(threads=[row[0] for row in rows])

    def visit(self, key: str, action: str) -> None:
        self.conn.execute(
            "INSERT INTO visits (key, action, pid) VALUES (%s, %s, %s)",
            (key, action, os.getpid()),
        )

    def close(self) -> None:
        self.conn.close()


def build() -> Any:
    return LedgerWork(os.environ["MM_TEST_DSN"])


app = Celery("ledger", broker=os.environ.get("MM_TEST_BROKER", "memory://"))
app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)
tasks = install(app, build, lease=20, beat_every=30)
