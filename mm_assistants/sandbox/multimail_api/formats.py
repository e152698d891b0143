"""Ids, keys, codes and timestamps in MultiMail's formats.

Email, webhook, key and audit times are ISO 8601 UTC with milliseconds and a ``Z``;
mailbox and contact ``created_at`` are epoch milliseconds. ``send_at`` must end in ``Z``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
_CODE_ALPHABET = string.ascii_uppercase.replace("O", "").replace("I", "") + "23456789"


def new_id(prefix: str) -> str:
    """A fresh id, e.g. ``em_`` and 20 lower-case letters and digits."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(20))


def new_api_key() -> str:
    """A raw test key, ``mm_test_`` and 32 random characters."""
    return "mm_test_" + "".join(secrets.choice(_ALPHABET) for _ in range(32))


def key_hash(raw: str) -> str:
    """How a key is looked up: its SHA-256 (the raw key is never stored with the key)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def new_code() -> str:
    """A one-time operator code in MultiMail's style, e.g. ``A7X-29K``."""
    pick = [secrets.choice(_CODE_ALPHABET) for _ in range(6)]
    return "".join(pick[:3]) + "-" + "".join(pick[3:])


def new_signing_secret() -> str:
    """A webhook signing secret, ``whsec_`` and 48 hex digits."""
    return "whsec_" + secrets.token_hex(24)


def iso(seconds: float) -> str:
    """Unix seconds as ``2026-03-15T14:00:00.000Z``."""
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(seconds: float) -> int:
    """Unix seconds as epoch milliseconds."""
    return int(seconds * 1000)


def day(seconds: float) -> str:
    """The UTC date of a moment, ``2026-03-15``."""
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).strftime("%Y-%m-%d")


def month_start(seconds: float) -> float:
    """The first moment of the UTC calendar month that holds ``seconds``."""
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def parse_time(text: str) -> float | None:
    """An ISO 8601 date or date-time as unix seconds (naive means UTC); ``None`` if invalid."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def parse_send_at(text: object) -> float | None:
    """A ``send_at`` value as unix seconds, or ``None`` unless it is UTC ISO ending in Z."""
    if not isinstance(text, str) or not text.endswith("Z") or "T" not in text:
        return None
    return parse_time(text)
