"""The rows behind `PostgresRouteStore`: a thread's locked row, its queue of messages
(waiting, or taken by the claim that runs them), and the failed threads with the messages
kept aside for them. Each helper runs inside the caller's transaction, on a thread row the
caller locked (`lock`)."""

from __future__ import annotations

from typing import Any

from mm_assistants.state.routes import RECOVERED, FailedThread, InboundMessage

HELD = "(claimed_until IS NOT NULL OR parked IS NOT NULL)"  # a claim exists (maybe lapsed)
# the checkpoint a claim taken by unpark resumes, once that claim lapsed (its resumer died)
LAPSED_RESUME = "CASE WHEN parked IS NULL AND claimed_until <= now() THEN resuming END"


class Row:
    """The locked thread row, as the calls above need it."""

    def __init__(
        self, fence: int, held: bool, live: bool, parked: str | None, lapsed_resume: str | None
    ) -> None:
        self.fence, self.held, self.live, self.parked = fence, held, live, parked
        self.lapsed_resume = lapsed_resume  # the checkpoint of a resume whose claim lapsed


def lock(conn: Any, mm_thread: str) -> Row:
    """Lock the row of ``mm_thread`` (created when missing), waiting for another claimer."""
    conn.execute(
        "INSERT INTO mm_route_threads (mm_thread) VALUES (%s) ON CONFLICT DO NOTHING",
        (mm_thread,),
    )
    fence, held, live, parked, lapsed = conn.execute(
        f"SELECT fence, {HELD}, parked IS NOT NULL OR claimed_until > now(), parked,"
        f" {LAPSED_RESUME} FROM mm_route_threads WHERE mm_thread = %s FOR UPDATE",
        (mm_thread,),
    ).fetchone()
    return Row(
        int(fence),
        bool(held),
        bool(live),
        None if parked is None else str(parked),
        None if lapsed is None else str(lapsed),
    )


def drop(conn: Any, mm_thread: str) -> None:
    """Drop the thread's claim (live, lapsed or parked)."""
    conn.execute(
        "UPDATE mm_route_threads SET claimed_until = NULL, parked = NULL, resuming = NULL"
        " WHERE mm_thread = %s",
        (mm_thread,),
    )


def enqueue(
    conn: Any,
    mm_thread: str,
    messages: list[InboundMessage],
    *,
    at_head: bool,
    taken: int | None = None,
) -> None:
    """Add ``messages`` after the queue, or before it (given back after a failure);
    ``taken``: the token of the claim that runs them already."""
    if not messages:
        return
    if at_head:
        edge = conn.execute(
            "SELECT COALESCE(MIN(position), 0) FROM mm_route_queue WHERE mm_thread = %s",
            (mm_thread,),
        ).fetchone()[0]
        positions = [int(edge) - len(messages) + n for n in range(len(messages))]
    else:
        edge = conn.execute(
            "SELECT COALESCE(MAX(position), 0) FROM mm_route_queue WHERE mm_thread = %s",
            (mm_thread,),
        ).fetchone()[0]
        positions = [int(edge) + 1 + n for n in range(len(messages))]
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO mm_route_queue (mm_thread, position, email_id, body, received_at,"
            " taken) VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (mm_thread, position, m.email_id, m.text, m.received_at, taken)
                for position, m in zip(positions, messages, strict=True)
            ],
        )
    conn.execute(
        "UPDATE mm_route_threads SET queued_at = COALESCE(queued_at, now()) WHERE mm_thread = %s",
        (mm_thread,),
    )


def take_queue(
    conn: Any, mm_thread: str, fence: int, *, only_recovered: bool = False
) -> list[InboundMessage]:
    """The waiting and recovered messages (``only_recovered``: those alone), marked taken
    by the claim ``fence`` (kept until its run ends)."""
    which = "taken = %s" if only_recovered else "(taken IS NULL OR taken = %s)"
    rows = conn.execute(
        f"UPDATE mm_route_queue SET taken = %s WHERE mm_thread = %s AND {which}"
        " RETURNING position, id, email_id, body, received_at",
        (fence, mm_thread, RECOVERED),
    ).fetchall()
    mark_queue(conn, mm_thread)
    rows.sort(key=lambda row: (row[0], row[1]))
    return [InboundMessage(str(r[2]), str(r[3]), float(r[4])) for r in rows]


def done(conn: Any, mm_thread: str) -> None:
    """The claim's run is over (finished or parked): its taken messages are gone, and so
    are the count of workers lost on it and any backoff."""
    conn.execute(
        "DELETE FROM mm_route_queue WHERE mm_thread = %s AND taken IS NOT NULL", (mm_thread,)
    )
    conn.execute(
        "UPDATE mm_route_threads SET attempts = 0, next_attempt_at = NULL WHERE mm_thread = %s",
        (mm_thread,),
    )
    mark_queue(conn, mm_thread)


def waiting(conn: Any, mm_thread: str) -> bool:
    """Whether the thread has messages no claim took."""
    row = conn.execute(
        "SELECT 1 FROM mm_route_queue WHERE mm_thread = %s AND taken IS NULL LIMIT 1",
        (mm_thread,),
    ).fetchone()
    return row is not None


def mark_queue(conn: Any, mm_thread: str) -> None:
    """``queued_at`` is set while the thread has rows in the queue, waiting or taken (a
    lapsed claim's taken rows make the thread stalled), and cleared once it has none."""
    conn.execute(
        "UPDATE mm_route_threads SET queued_at = CASE WHEN EXISTS (SELECT 1 FROM"
        " mm_route_queue q WHERE q.mm_thread = %s) THEN COALESCE(queued_at, now()) END"
        " WHERE mm_thread = %s",
        (mm_thread, mm_thread),
    )


def set_aside(conn: Any, mm_thread: str, reason: str) -> None:
    """End the locked thread's work as failed (`RouteStore.fail`, its holder checked): the
    messages its claim took are kept aside with ``reason``, the claim, attempts and any
    backoff are dropped; mail queued since stays queued."""
    conn.execute(
        "INSERT INTO mm_route_failed (mm_thread, reason) VALUES (%s, %s)"
        " ON CONFLICT (mm_thread) DO UPDATE SET reason = excluded.reason,"
        " failed_at = now()",
        (mm_thread, reason),
    )
    # the claim's messages only: mail queued since waits, and runs next
    conn.execute(
        "INSERT INTO mm_route_failed_messages (mm_thread, email_id, body, received_at)"
        " SELECT mm_thread, email_id, body, received_at FROM mm_route_queue"
        " WHERE mm_thread = %s AND taken IS NOT NULL ORDER BY position, id",
        (mm_thread,),
    )
    conn.execute(
        "DELETE FROM mm_route_queue WHERE mm_thread = %s AND taken IS NOT NULL",
        (mm_thread,),
    )
    conn.execute(
        "UPDATE mm_route_threads SET claimed_until = NULL, parked = NULL,"
        " resuming = NULL, attempts = 0, queued_at = NULL, next_attempt_at = NULL"
        " WHERE mm_thread = %s",
        (mm_thread,),
    )
    mark_queue(conn, mm_thread)


def failed_threads(conn: Any, limit: int) -> list[FailedThread]:
    """Threads whose work failed, oldest first, with the messages kept aside."""
    heads = conn.execute(
        "SELECT mm_thread, reason, extract(epoch FROM failed_at) FROM mm_route_failed"
        " ORDER BY failed_at, mm_thread LIMIT %s",
        (limit,),
    ).fetchall()
    rows = conn.execute(
        "SELECT mm_thread, email_id, body, received_at FROM mm_route_failed_messages"
        " WHERE mm_thread = ANY(%s) ORDER BY id",
        ([str(head[0]) for head in heads],),
    ).fetchall()
    kept: dict[str, list[InboundMessage]] = {}
    for mm_thread, email_id, body, received_at in rows:
        kept.setdefault(str(mm_thread), []).append(
            InboundMessage(str(email_id), str(body), float(received_at))
        )
    return [
        FailedThread(str(t), str(reason), float(at), tuple(kept.get(str(t), ())))
        for t, reason, at in heads
    ]
