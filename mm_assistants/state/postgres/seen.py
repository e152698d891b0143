"""`PostgresSeenStore`: the webhook receiver's replay memory in PostgreSQL, so a delivery is
accepted once by the whole fleet of receivers.

A claim is one transaction of upserts that each take a key only when it is absent or
expired; when one key is still remembered, the transaction is rolled back and nothing is
remembered. Two receivers inserting one new key at once: the second waits for the first's
commit (the primary key), then finds it taken. Times are the receiver's own, as the
`SeenDeliveries` protocol says (its clock also judged the delivery's freshness).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mm_assistants.state.postgres.connection import PostgresDatabase, database

_PRUNE_EVERY = 256  # claims between two deletions of expired rows


class _Taken(Exception):
    """One of the keys is remembered already: roll the claim back."""


class PostgresSeenStore:
    """`SeenDeliveries` in PostgreSQL (``str`` DSN, or a `PostgresDatabase` to share its
    pool); expired keys are deleted now and then while claiming.

    Example::

        receiver = WebhookReceiver(secret, replay_guard=PostgresSeenStore(dsn))
    """

    def __init__(self, dsn: str | PostgresDatabase) -> None:
        self.database = database(dsn)
        self._owned = not isinstance(dsn, PostgresDatabase)
        self._claims = 0

    def __repr__(self) -> str:
        return f"PostgresSeenStore({self.database.where!r})"

    def claim(self, keys: Sequence[str], *, now: float, keep_until: float) -> bool:
        """First to insert wins (see `SeenDeliveries.claim`)."""
        unique = list(dict.fromkeys(keys))  # one upsert may not touch a row twice
        if not unique:
            return True
        try:
            with self.database.transaction() as conn:
                taken = conn.execute(
                    "INSERT INTO mm_webhook_seen (key, keep_until)"
                    " SELECT key, %s FROM unnest(%s::text[]) AS key"
                    " ON CONFLICT (key) DO UPDATE SET keep_until = excluded.keep_until"
                    " WHERE mm_webhook_seen.keep_until <= %s",
                    (keep_until, unique, now),
                ).rowcount
                if taken != len(unique):
                    raise _Taken
        except _Taken:
            return False
        self._claims += 1
        if self._claims % _PRUNE_EVERY == 1:
            with self.database.connection() as conn:
                conn.execute("DELETE FROM mm_webhook_seen WHERE keep_until <= %s", (now,))
        return True

    def release(self, keys: Iterable[str]) -> None:
        """Forget ``keys``."""
        with self.database.connection() as conn:
            conn.execute("DELETE FROM mm_webhook_seen WHERE key = ANY(%s)", (list(keys),))

    def close(self) -> None:
        """Close the pool this store opened from a DSN (a given `PostgresDatabase` is the
        caller's to close)."""
        if self._owned:
            self.database.close()
