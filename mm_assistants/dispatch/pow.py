"""The proof of work of MultiMail's signup challenge, solved for the model (pure).

``request_challenge`` answers an ALTCHA challenge: find ``N`` in ``[0, maxnumber]`` with
``hex(sha256((salt + str(N)).encode())) == challenge``. A model cannot run a hundred
thousand SHA-256s, so the dispatcher solves it and hands the model a ``pow_solution`` to
pass to ``create_account`` unchanged. The server checks the ``signature`` (an HMAC of the
challenge under its own secret), the expiry a salt may carry (``?expires=<unix>&``) and
that a challenge is used once; none of that is ours to verify.

The answer comes from a server, or from whatever sits between it and us: a challenge is
refused, never attempted, when its search space is above a cap or its algorithm is not
SHA-256 or a field has the wrong shape, so a hostile answer cannot hang a dispatcher.

>>> import hashlib
>>> digest = hashlib.sha256(b"s1" + b"42").hexdigest()
>>> solve_challenge({"algorithm": "SHA-256", "challenge": digest, "maxnumber": 100,
...                  "salt": "s1", "signature": "sig"})["number"]
42
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final

from mm_assistants.dispatch.policy import Refusal

#: The largest search space solved (a few seconds of hashing at worst); MultiMail's own
#: challenges stay far below it.
MAX_NUMBER_CAP: Final = 2_000_000
#: What the model reads beside the solution (the library's words, in plain view).
SOLVED_NOTE: Final = (
    "The client library solved this challenge: pass pow_solution to create_account "
    "unchanged, within 5 minutes. Do not solve or change it yourself."
)
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
#: The longest salt and signature solved: what ``create_account``'s schema (v2) accepts in
#: ``pow_solution``, so a solution is never computed that the next call must refuse.
MAX_FIELD_CHARS: Final = 512


def check_max_number(value: Any) -> None:
    """Refuse a ``pow_max_number`` that is not a whole number of at least 0 (the caller's
    misconfiguration: a `TypeError`/`ValueError` at construction)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("pow_max_number must be an int")
    if value < 0:
        raise ValueError("pow_max_number must be at least 0")


def challenge_problem(challenge: Any, *, max_number: int = MAX_NUMBER_CAP) -> str | None:
    """Why ``challenge`` (a ``request_challenge`` answer) will not be solved, or ``None``."""
    if not isinstance(challenge, Mapping):
        return "the challenge is not a JSON object"
    if challenge.get("algorithm") != "SHA-256":
        return "only SHA-256 challenges are solved"
    if not isinstance(challenge.get("challenge"), str) or not _HEX_DIGEST.fullmatch(
        challenge["challenge"]
    ):
        return "the challenge is not a SHA-256 hex digest"
    for name in ("salt", "signature"):
        value = challenge.get(name)
        if not isinstance(value, str) or not value or len(value) > MAX_FIELD_CHARS:
            return f"the challenge's {name} is missing or malformed"
    ceiling = challenge.get("maxnumber")
    if isinstance(ceiling, bool) or not isinstance(ceiling, int) or ceiling < 0:
        return "the challenge's maxnumber is not a non-negative integer"
    if ceiling > max_number:
        return f"the challenge's maxnumber {ceiling} is above this client's cap of {max_number}"
    return None


def solve_challenge(
    challenge: Mapping[str, Any], *, max_number: int = MAX_NUMBER_CAP
) -> dict[str, Any] | None:
    """The ``pow_solution`` for ``challenge`` (algorithm, challenge, number, salt and
    signature, the last echoed unchanged), or ``None`` when it is refused (see
    `challenge_problem`) or no number in range solves it."""
    if challenge_problem(challenge, max_number=max_number) is not None:
        return None
    target = bytes.fromhex(challenge["challenge"])
    salted = hashlib.sha256(challenge["salt"].encode("utf-8"))
    for number in range(int(challenge["maxnumber"]) + 1):
        attempt = salted.copy()  # the salt's state is hashed once, not per number
        attempt.update(str(number).encode("ascii"))
        if attempt.digest() == target:
            return {
                "algorithm": challenge["algorithm"],
                "challenge": challenge["challenge"],
                "number": number,
                "salt": challenge["salt"],
                "signature": challenge["signature"],
            }
    return None


def attach_solution(data: Any, *, max_number: int = MAX_NUMBER_CAP) -> dict[str, Any] | Refusal:
    """A ``request_challenge`` answer with its ``pow_solution`` added, or the `Refusal`
    the model reads when this client will not or cannot solve the challenge."""
    problem = challenge_problem(data, max_number=max_number)
    solution = solve_challenge(data, max_number=max_number) if problem is None else None
    if solution is None:
        why = problem or "no number in the challenge's range solves it"
        return Refusal(
            "challenge_unsolvable",
            f"the signup challenge was not solved: {why}. Call request_challenge again; if "
            "this repeats, tell the operator.",
        )
    return {**data, "pow_solution": solution, "note": SOLVED_NOTE}


__all__ = [
    "MAX_FIELD_CHARS",
    "MAX_NUMBER_CAP",
    "attach_solution",
    "challenge_problem",
    "solve_challenge",
]
