"""The PostgreSQL backend's tables, created and upgraded under one advisory lock.

`migrate` runs in one transaction that first takes ``pg_advisory_xact_lock(LOCK_KEY)``:
of several processes starting on an empty database one creates the tables while the others
wait, then find the work done. ``mm_schema_version`` records the version reached; a
database from a newer release is refused with a message that says what to do.

Times judged against leases are ``timestamptz`` set from ``now()``; times a caller passes
(a webhook's ``keep_until``, a record's ``recorded_at``) are unix seconds as the caller
gave them.
"""

from __future__ import annotations

from typing import Any

#: The advisory lock every migration takes (an arbitrary constant of this library's own).
LOCK_KEY = 0x6D6D5F617373  # "mm_ass"
#: The table recording the schema version.
VERSION_TABLE = "mm_schema_version"
#: The NOTIFY channel decisions ring on (its payload is only the email id).
DECISION_CHANNEL = "mm_assistants_decisions"

# Each entry brings a database from the version before it to its own number.
STEPS: dict[int, tuple[str, ...]] = {
    1: (
        # one sequence hands out every fencing token of every table: never reused
        "CREATE SEQUENCE IF NOT EXISTS mm_fence",
        # pending approvals (PendingStore); record is the JSON of a PendingRecord
        "CREATE TABLE IF NOT EXISTS mm_pending (email_id text PRIMARY KEY,"
        " mailbox_id text NOT NULL, record text NOT NULL,"
        " recorded_at double precision NOT NULL,"
        " claim_token text, claimed_until timestamptz)",
        "CREATE INDEX IF NOT EXISTS mm_pending_mailbox ON mm_pending (mailbox_id)",
        # unreadable rows, kept aside for an operator (logged by key only)
        "CREATE TABLE IF NOT EXISTS mm_pending_quarantine (email_id text, record text,"
        " recorded_at double precision, problem text NOT NULL,"
        " quarantined_at timestamptz NOT NULL DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS mm_checkpoint_quarantine (checkpoint_id text,"
        " record bytea, format_version integer, problem text NOT NULL,"
        " quarantined_at timestamptz NOT NULL DEFAULT now())",
        # inbound routes (RouteStore): where a thread continues, its claim, its queue
        "CREATE TABLE IF NOT EXISTS mm_route_targets (mm_thread text PRIMARY KEY,"
        " target text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS mm_route_seen (key text PRIMARY KEY,"
        " seen_at timestamptz NOT NULL DEFAULT now())",
        "CREATE INDEX IF NOT EXISTS mm_route_seen_at ON mm_route_seen (seen_at)",
        "CREATE TABLE IF NOT EXISTS mm_route_threads (mm_thread text PRIMARY KEY,"
        " fence bigint NOT NULL DEFAULT 0, claimed_until timestamptz,"
        " parked text, queued_at timestamptz)",
        # stalled(): threads with a queue (queued_at set while messages wait)
        "CREATE INDEX IF NOT EXISTS mm_route_threads_queued ON mm_route_threads (queued_at)"
        " WHERE queued_at IS NOT NULL",
        "CREATE TABLE IF NOT EXISTS mm_route_queue (id bigserial PRIMARY KEY,"
        " mm_thread text NOT NULL, position bigint NOT NULL, email_id text NOT NULL,"
        " body text NOT NULL, received_at double precision NOT NULL)",
        "CREATE INDEX IF NOT EXISTS mm_route_queue_thread ON mm_route_queue"
        " (mm_thread, position, id)",
        # the webhook receiver's replay memory (SeenDeliveries)
        "CREATE TABLE IF NOT EXISTS mm_webhook_seen (key text PRIMARY KEY,"
        " keep_until double precision NOT NULL)",
        "CREATE INDEX IF NOT EXISTS mm_webhook_seen_until ON mm_webhook_seen (keep_until)",
        # parked runs (CheckpointStore)
        "CREATE TABLE IF NOT EXISTS mm_checkpoints (checkpoint_id text PRIMARY KEY,"
        " record bytea NOT NULL, format_version integer NOT NULL,"
        " updated_at timestamptz NOT NULL DEFAULT now(),"
        " fence bigint NOT NULL DEFAULT 0, claimed_until timestamptz,"
        " attempts integer NOT NULL DEFAULT 0, next_attempt_at timestamptz)",
        # oversight decisions heard anywhere in the fleet (DecisionStore)
        "CREATE TABLE IF NOT EXISTS mm_decisions (email_id text PRIMARY KEY,"
        " record jsonb NOT NULL, decided_at timestamptz NOT NULL DEFAULT now(),"
        " rank integer NOT NULL DEFAULT 0)",
        # the fleet watcher's per-mailbox check rows (MailboxChecks)
        "CREATE TABLE IF NOT EXISTS mm_mailbox_checks (mailbox_id text PRIMARY KEY,"
        " next_check_at timestamptz NOT NULL DEFAULT now(),"
        " interval_seconds double precision NOT NULL,"
        " owner text, fence bigint NOT NULL DEFAULT 0, leased_until timestamptz,"
        " checked_at timestamptz)",
        "CREATE INDEX IF NOT EXISTS mm_mailbox_checks_due ON mm_mailbox_checks (next_check_at)",
    ),
    2: (
        # fleet tasks (issue 16): a claim's messages stay queued, marked with the token of
        # the claim running them, until its run ends, so a worker's death loses none
        "ALTER TABLE mm_route_queue ADD COLUMN IF NOT EXISTS taken bigint",
        # workers lost on the thread's current work; the checkpoint a claim resumes
        "ALTER TABLE mm_route_threads ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0",
        "ALTER TABLE mm_route_threads ADD COLUMN IF NOT EXISTS resuming text",
        # threads whose work failed after too many lost workers, for an operator
        "CREATE TABLE IF NOT EXISTS mm_route_failed (mm_thread text PRIMARY KEY,"
        " reason text NOT NULL, failed_at timestamptz NOT NULL DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS mm_route_failed_messages (id bigserial PRIMARY KEY,"
        " mm_thread text NOT NULL, email_id text NOT NULL, body text NOT NULL,"
        " received_at double precision NOT NULL)",
        "CREATE INDEX IF NOT EXISTS mm_route_failed_messages_thread"
        " ON mm_route_failed_messages (mm_thread, id)",
    ),
    3: (
        # a thread whose run raised is due again then (retry_delay of its attempts): the
        # sweep (stalled) skips it until that moment, on the database's clock
        "ALTER TABLE mm_route_threads ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz",
    ),
}
#: The version this release creates.
CURRENT_VERSION = max(STEPS)


class SchemaTooNew(RuntimeError):
    """The database was set up by a newer mm-assistants than this one."""


def migrate(conn: Any) -> int:
    """Bring the database behind ``conn`` (autocommit) to `CURRENT_VERSION`; returns the
    version found before (0: an empty database)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (id integer PRIMARY KEY"
            " CHECK (id = 1), version integer NOT NULL,"
            " updated_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute(f"SELECT version FROM {VERSION_TABLE} WHERE id = 1").fetchone()
        found = 0 if row is None else int(row[0])
        if found > CURRENT_VERSION:
            raise SchemaTooNew(
                f"the database's mm-assistants schema is version {found}, newer than this"
                f" release knows ({CURRENT_VERSION}): upgrade mm-assistants on this host"
            )
        for version in range(found + 1, CURRENT_VERSION + 1):
            for statement in STEPS[version]:
                conn.execute(statement)
        if found < CURRENT_VERSION:
            conn.execute(
                f"INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, %s) ON CONFLICT (id)"
                " DO UPDATE SET version = excluded.version, updated_at = now()",
                (CURRENT_VERSION,),
            )
    return found


def schema_version(conn: Any) -> int:
    """The version the database behind ``conn`` is at (0: never set up)."""
    exists = conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()
    if exists is None or exists[0] is None:
        return 0
    row = conn.execute(f"SELECT version FROM {VERSION_TABLE} WHERE id = 1").fetchone()
    return 0 if row is None else int(row[0])
