"""The signup proof of work (pure): ALTCHA-style challenges, made and checked.

A challenge hides a secret number N in ``[0, maxnumber]``: ``challenge`` is the hex
SHA-256 of ``salt + str(N)`` and ``signature`` the hex HMAC-SHA256 of ``challenge`` under the
server's secret, so the server need not remember what it handed out. The salt carries its
expiry (``"<hex>?expires=<unix>&"``), covered by the hash, so it cannot be extended. A
solver tries numbers until the hash matches; the server checks the algorithm, the
signature (constant time), the hash and the expiry. Remembering used challenges (single
use) is the caller's part: it needs storage.

Example::

    challenge = make_challenge("secret", maxnumber=1000, expires=now + 300)
    number = solve(challenge)
    problem(dict(challenge, number=number), "secret", maxnumber=1000, now=now)  # None
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

ALGORITHM = "SHA-256"
FIELDS = ("algorithm", "challenge", "number", "salt", "signature")
#: What this server signs and hashes: 64 lower-case hex digits (a SHA-256 digest).
_DIGEST = re.compile(r"[0-9a-f]{64}\Z")
#: The longest salt accepted (this server's are ASCII: hex, ``?expires=``, digits, ``&``).
MAX_SALT = 512


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sign(challenge: str, secret: str) -> str:
    """The signature of ``challenge``: hex HMAC-SHA256 under ``secret``."""
    return hmac.new(secret.encode(), challenge.encode(), hashlib.sha256).hexdigest()


def make_challenge(
    secret: str, *, maxnumber: int, expires: float, number: int | None = None
) -> dict[str, Any]:
    """A new challenge ``{algorithm, challenge, maxnumber, salt, signature}`` that expires
    at unix time ``expires`` (``number``: the hidden one, random unless a test fixes it)."""
    hidden = secrets.randbelow(maxnumber + 1) if number is None else number
    salt = f"{secrets.token_hex(12)}?expires={int(expires)}&"
    challenge = _sha256(salt + str(hidden))
    return {
        "algorithm": ALGORITHM,
        "challenge": challenge,
        "maxnumber": maxnumber,
        "salt": salt,
        "signature": sign(challenge, secret),
    }


def expiry(salt: str) -> float | None:
    """The ``expires`` unix time a salt carries, if any."""
    _, _, query = salt.partition("?")
    values = parse_qs(query).get("expires")
    try:
        return float(values[0]) if values else None
    except ValueError:
        return None


def problem(solution: Mapping[str, Any], secret: str, *, maxnumber: int, now: float) -> str | None:
    """What is wrong with a ``pow_solution`` (a sentence for a 400), or ``None`` when it
    is a solved, unexpired challenge this server signed."""
    missing = [name for name in FIELDS if name not in solution]
    if missing:
        return f"pow_solution is missing {', '.join(missing)}"
    strings = ("algorithm", "challenge", "salt", "signature")
    if not all(isinstance(solution[name], str) for name in strings):
        return "pow_solution's algorithm, challenge, salt and signature must be strings"
    number = solution["number"]
    # bool is an int to Python, but ``true`` is not a solved number
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= maxnumber:
        return f"pow_solution.number must be an integer from 0 to {maxnumber}"
    if solution["algorithm"] != ALGORITHM:
        return f"Unsupported proof-of-work algorithm (expected {ALGORITHM})"
    # checked before any hashing: a non-ASCII or lone-surrogate value cannot be encoded or
    # compared in constant time, and must be a 400, not a crash
    digests = ("challenge", "signature")
    if not all(_DIGEST.match(solution[name]) for name in digests):
        return "pow_solution's challenge and signature must be 64 lower-case hex digits"
    salt = solution["salt"]
    if not (salt.isascii() and salt.isprintable() and len(salt) <= MAX_SALT):
        return f"pow_solution.salt must be printable ASCII of at most {MAX_SALT} characters"
    if not hmac.compare_digest(sign(solution["challenge"], secret), solution["signature"]):
        return "Invalid proof-of-work signature: echo the challenge's fields back unchanged"
    if not hmac.compare_digest(_sha256(solution["salt"] + str(number)), solution["challenge"]):
        return "Wrong proof-of-work solution: SHA-256(salt + number) does not match challenge"
    expires = expiry(solution["salt"])
    if expires is None or now > expires:
        return "Proof-of-work challenge expired; request a new one"
    return None


def solve(challenge: Mapping[str, Any]) -> int:
    """The number that solves ``challenge`` (a brute-force search, for tests and tools).
    Raises ``ValueError`` when no number up to ``maxnumber`` does."""
    salt, target = challenge["salt"], challenge["challenge"]
    for number in range(int(challenge["maxnumber"]) + 1):
        if _sha256(salt + str(number)) == target:
            return number
    raise ValueError("no number up to maxnumber solves this challenge")
