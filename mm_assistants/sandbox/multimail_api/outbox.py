"""Webhook deliveries of the sandbox: recorded in SQLite, signed, POSTed with retries.

`WebhookOutbox.emit` records one delivery per subscription in ``mm_webhook_deliveries`` (own
connection to the sandbox's file) and wakes a worker thread that POSTs it as `signing`
describes: JSON ``{"id": "evt_…", "event", "timestamp", "data"}``, signed. A 2xx marks it
``delivered``; another answer (redirects are not followed) or a transport error is retried
after ``retry_delays[n]`` seconds plus up to 10 % jitter, then it is ``failed``: the default
``(1, 2, 4)`` is one attempt and three retries.

Two clocks, on purpose. The times a receiver or the history sees come from the sandbox clock,
so they agree with the rest of the sandbox when tests move it. When a retry is due is
wall-clock time (``time.time()``): a retry waits real seconds for a real receiver to recover,
moving the sandbox clock an hour ahead must not fire every retry at once, and unlike a
monotonic clock it still means something to the next process that opens the file.

Delivery is at least once: pending rows are found again by the next outbox on the same file,
and an attempt cut short by a crash is made again. The signing secret is never stored, logged
or shown; a row keeps the signature of its fixed body, which is all a retry needs.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from mm_assistants.sandbox.multimail_api.formats import iso, new_id
from mm_assistants.sandbox.multimail_api.signing import delivery_headers, encode_body, sign

logger = logging.getLogger(__name__)

STATUSES = ("pending", "delivered", "failed")
_JITTER = 0.1  # at most this fraction of a delay is added, so retries of one burst spread out
_COLUMNS = (
    "id, webhook_id, mailbox_id, event, url, status, attempts, last_status_code, last_error, "
    "created_at, last_attempt_at, delivered_at"
)
# times are unix seconds: created/attempt/delivered by the sandbox clock, due_at wall-clock
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS mm_webhook_deliveries ("
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, tenant_id TEXT NOT NULL, "
    "webhook_id TEXT NOT NULL, mailbox_id TEXT, event TEXT NOT NULL, url TEXT NOT NULL, "
    "body BLOB NOT NULL, signature TEXT NOT NULL, status TEXT NOT NULL, "
    "attempts INTEGER NOT NULL DEFAULT 0, last_status_code INTEGER, last_error TEXT, "
    "created_at REAL NOT NULL, last_attempt_at REAL, delivered_at REAL, due_at REAL)",
    "CREATE INDEX IF NOT EXISTS mm_wd_due ON mm_webhook_deliveries (status, due_at)",
    "CREATE INDEX IF NOT EXISTS mm_wd_tenant ON mm_webhook_deliveries (tenant_id, seq)",
)


class WebhookOutbox:
    """Signed webhook deliveries with retries, worked off by one background thread.

    Example::

        outbox = WebhookOutbox("sandbox.db", clock=clock)
        outbox.start()
        outbox.emit(tenant_id="t_1", event="message.sent", data={"id": "em_1"},
                    subscriptions=[webhook])   # {"id", "url", "signing_secret", ...}
        outbox.flush()
        outbox.deliveries("t_1")   # [{"id": "evt_…", "status": "delivered", ...}]
        outbox.close()

    ``clock`` gives the timestamps, real time the retry schedule (module docstring). A
    ``transport`` (e.g. ``httpx.MockTransport``) replaces the network; the outbox closes it.
    """

    def __init__(
        self,
        db_path: str,
        *,
        clock: Callable[[], float],
        retry_delays: Sequence[float] = (1.0, 2.0, 4.0),
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if timeout <= 0 or any(delay < 0 for delay in retry_delays):
            raise ValueError("timeout must be positive and retry_delays not negative")
        self._db_path = db_path
        self._clock = clock
        self._delays = tuple(float(delay) for delay in retry_delays)
        self._timeout = float(timeout)
        self._random = random.Random()
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        # one condition guards the connection and the flags, and wakes the worker and `flush`
        self._cond = threading.Condition(threading.RLock())
        self._thread: threading.Thread | None = None
        self._busy = False
        self._stopping = False
        self._closed = False
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._cond:
            for statement in ("PRAGMA journal_mode=WAL", "PRAGMA busy_timeout=5000", *_SCHEMA):
                self._db.execute(statement)

    def __repr__(self) -> str:
        alive = self._thread is not None and self._thread.is_alive()
        state = "closed" if self._closed else "running" if alive else "stopped"
        return f"WebhookOutbox({self._db_path!r}, {state})"

    def emit(
        self,
        *,
        tenant_id: str,
        event: str,
        data: dict[str, Any],
        subscriptions: list[dict[str, Any]],
    ) -> None:
        """Record one delivery of ``event`` per subscription (already filtered by the caller:
        ``id``, ``url``, ``signing_secret``, ``mailbox_id``) and wake the worker.

        A subscription without ``id``, ``url`` or ``signing_secret`` (``ValueError``) or
        ``data`` JSON cannot encode (``TypeError``) records nothing.
        """
        created = self._clock()
        rows = []
        for subscription in subscriptions:
            webhook_id, url, secret = _required(subscription)
            delivery_id = new_id("evt_")
            body = encode_body(delivery_id, event, created, data)
            mailbox = subscription.get("mailbox_id")
            row = (delivery_id, tenant_id, webhook_id, mailbox, event, url, body)
            rows.append((*row, sign(body, secret), created, time.time()))
        if not rows:
            return
        # one statement, so an event reaches all of its subscriptions or none
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)"] * len(rows))
        with self._cond:
            if self._stopping:  # shutting down: the sink must not fail the request that emits
                logger.warning("webhook outbox closed: %s for %d dropped", event, len(rows))
                return
            self._db.execute(
                "INSERT INTO mm_webhook_deliveries (id, tenant_id, webhook_id, mailbox_id, event, "
                f"url, body, signature, status, created_at, due_at) VALUES {values}",
                [value for row in rows for value in row],
            )
            self._cond.notify_all()

    def deliveries(
        self, tenant_id: str, *, status: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The tenant's deliveries, newest first, optionally only those with ``status``.

        Each is ``{"id", "webhook_id", "mailbox_id", "event", "url", "status", "attempts",
        "last_status_code", "last_error", "created_at", "last_attempt_at", "delivered_at"}``
        (times ISO 8601, UTC, ``Z``) plus the API's names for two of them, ``event_type`` and
        ``response_status``. Never the secret, the body or its signature.
        """
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with self._cond:
            self._check_open()
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM mm_webhook_deliveries WHERE tenant_id = :tenant "
                "AND (:status IS NULL OR status = :status) ORDER BY seq DESC LIMIT :limit",
                {"tenant": tenant_id, "status": status, "limit": limit},
            ).fetchall()
        return [_view(row) for row in rows]

    def start(self) -> None:
        """Start the delivery worker (no-op when it runs); it first sends what is pending."""
        with self._cond:
            self._check_open()
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._work, name="mm-webhook-out", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the worker, close the HTTP client and the connection (idempotent). An idle
        worker stops at once, one amid an attempt within ``timeout`` + 1 s (else its result
        is dropped: the row stays pending for the next outbox). Later events are dropped."""
        with self._cond:
            if self._closed:
                return
            self._stopping = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(self._timeout + 1.0)
        with self._cond:
            self._closed = True
            self._db.close()
        if thread is None:
            self._client.close()  # otherwise the worker closes it as it leaves

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait (for tests) until no attempt is under way and no pending delivery comes due
        within ``timeout``; whether that happened in time. So with short ``retry_delays`` it
        returns once all are ``delivered`` or ``failed``; a retry due after the deadline is
        not waited for, as waiting could not change it.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                remaining = deadline - time.monotonic()
                horizon = time.time() + max(remaining, 0.0)
                if not (self._closed or self._busy or self._due(horizon)):
                    return True
                if remaining <= 0 or self._closed:
                    return False
                # woken when an attempt settles; the cap covers a worker that is not running
                self._cond.wait(min(remaining, 0.05))

    def _work(self) -> None:
        try:
            while True:
                job = self._next_job()
                if job is None:
                    return
                code, error = self._attempt(job)
                with self._cond:
                    self._busy = False
                    if not self._closed:
                        self._settle(job, code, error)
                    self._cond.notify_all()
        finally:
            self._client.close()

    def _next_job(self) -> sqlite3.Row | None:
        """The next due job (marked busy), after waiting for one; ``None`` when stopping."""
        with self._cond:
            while not self._stopping:
                row: sqlite3.Row | None = self._db.execute(
                    "SELECT id, event, url, body, signature, attempts, due_at "
                    "FROM mm_webhook_deliveries WHERE status = 'pending' "
                    "ORDER BY due_at, seq LIMIT 1"
                ).fetchone()
                wait = None if row is None else row["due_at"] - time.time()
                if wait is not None and wait <= 0:
                    self._busy = True
                    return row
                self._cond.wait(wait)  # woken by emit or close
            return None

    def _attempt(self, job: sqlite3.Row) -> tuple[int | None, str | None]:
        """POST one delivery: its status code and, unless it was a 2xx, what went wrong."""
        headers = delivery_headers(job["id"], job["event"], job["signature"], self._clock())
        try:
            response = self._client.post(job["url"], content=job["body"], headers=headers)
        except Exception as exc:  # noqa: BLE001 -- any failure of one receiver must not stop the worker
            return None, f"{type(exc).__name__}: {exc}"[:500]
        code = response.status_code
        return code, None if 200 <= code < 300 else f"HTTP {code}"

    def _settle(self, job: sqlite3.Row, code: int | None, error: str | None) -> None:
        attempts = job["attempts"] + 1
        now = self._clock()
        if error is None:
            status, due, delivered = "delivered", None, now
        elif attempts <= len(self._delays):
            delay = self._delays[attempts - 1] * (1 + _JITTER * self._random.random())
            status, due, delivered = "pending", time.time() + delay, None
        else:
            status, due, delivered = "failed", None, None
        self._db.execute(
            "UPDATE mm_webhook_deliveries SET status = ?, attempts = ?, last_status_code = ?, "
            "last_error = ?, last_attempt_at = ?, delivered_at = ?, due_at = ? WHERE id = ?",
            (status, attempts, code, error, now, delivered, due, job["id"]),
        )
        level = logging.WARNING if status == "failed" else logging.DEBUG
        logger.log(
            level, "webhook %s %s: attempt %d, %s", job["id"], job["url"], attempts, error or status
        )

    def _due(self, horizon: float) -> bool:
        query = "SELECT 1 FROM mm_webhook_deliveries WHERE status = 'pending' AND due_at <= ?"
        return self._db.execute(query, (horizon,)).fetchone() is not None

    def _check_open(self) -> None:
        if self._closed or self._stopping:
            raise RuntimeError("the webhook outbox is closed")


def _required(subscription: Mapping[str, Any]) -> tuple[str, str, str]:
    # the message names the missing key, never a value: the mapping holds the secret
    for key in ("id", "url", "signing_secret"):
        if not isinstance(subscription.get(key), str) or not subscription[key]:
            raise ValueError(f"a webhook subscription needs a non-empty string {key!r}")
    return subscription["id"], subscription["url"], subscription["signing_secret"]


def _view(row: sqlite3.Row) -> dict[str, Any]:
    view = dict(row)
    for key in ("created_at", "last_attempt_at", "delivered_at"):
        view[key] = None if view[key] is None else iso(view[key])
    view["event_type"] = view["event"]
    view["response_status"] = view["last_status_code"]
    return view
