"""The table of used signup challenges keeps only those that could still verify: an
expired challenge is refused as expired anyway, so remembering it forever only grows the
sandbox's file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mm_assistants.sandbox.multimail_api import MultiMailSandboxSettings, altcha
from mm_assistants.sandbox.multimail_api.routes_challenge import FORGET_BATCH, expired_uses
from mm_assistants.sandbox.multimail_api.store import Store
from tests.sandbox.multimail_api.conftest import Sandbox, Start

TTL = 300.0


@pytest.fixture
def sandbox(start_sandbox: Start) -> Sandbox:
    # a small maxnumber: these tests solve many challenges
    return start_sandbox(MultiMailSandboxSettings(pow_maxnumber=500, settle_interval=None))


@pytest.fixture
def store(sandbox: Sandbox) -> Iterator[Store]:
    # a second connection on the sandbox's file: what it keeps, as a restart would find it
    opened = Store(sandbox.db_path)
    yield opened
    opened.close()


def used(store: Store) -> list[str]:
    return [doc["id"] for doc in store.children("pow_used")]


def solve_new(client: httpx.Client) -> dict[str, Any]:
    """A new challenge, solved."""
    challenge = client.post("/v1/account/challenge", json={}).json()
    fields = ("algorithm", "challenge", "salt", "signature")
    return {**{k: challenge[k] for k in fields}, "number": altcha.solve(challenge)}


def sign_up(client: httpx.Client, n: int, solution: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sign up operator ``n`` with ``solution`` (default: a new one); the solution used."""
    solution = solution or solve_new(client)
    answer = client.post(
        "/v1/account",
        json={
            "operator_name": f"Operator {n}",
            "oversight_email": f"ops{n}@acme.example",
            "accepted_tos": True,
            "accepted_operator_agreement": True,
            "accepted_anti_spam_policy": True,
            "pow_solution": solution,
        },
    )
    assert answer.status_code == 200, answer.text
    return solution


def test_expired_challenges_are_forgotten_and_still_refused(sandbox: Sandbox, store: Store) -> None:
    public = sandbox.client()
    first, second = sign_up(public, 1), sign_up(public, 2)
    assert used(store) == [first["challenge"], second["challenge"]]
    sandbox.advance(TTL / 2)
    third = sign_up(public, 3)  # nothing has expired yet: all three are kept
    assert len(used(store)) == 3
    sandbox.advance(TTL / 2 + 1)  # the first two have expired, the third has not
    public.post("/v1/account/challenge", json={})
    assert used(store) == [third["challenge"]]
    # forgotten or not, neither is accepted again
    for solution, why in ((first, "expired"), (third, "already used")):
        again = public.post(
            "/v1/account",
            json={"operator_name": "X", "oversight_email": "x@x.example", "pow_solution": solution},
        )
        assert again.status_code == 400
        assert why in again.json()["error"]


def test_each_call_forgets_a_bounded_batch(sandbox: Sandbox, store: Store) -> None:
    public = sandbox.client()
    solution = solve_new(public)
    stale = 2 * FORGET_BATCH + 3
    now = sandbox.clock()
    with store.transaction():
        for n in range(stale):
            store.put("pow_used", {"id": f"{n:064x}", "at": now - 2 * TTL, "expires": now - TTL})
        store.put("pow_used", {"id": "f" * 64, "at": now, "expires": now + TTL})
    sign_up(public, 1, solution)  # adds its own, then forgets the oldest batch
    assert len(used(store)) == stale - FORGET_BATCH + 2
    assert used(store)[0] == f"{FORGET_BATCH:064x}"
    public.post("/v1/account/challenge", json={})  # a challenge forgets too
    assert len(used(store)) == stale - 2 * FORGET_BATCH + 2
    public.post("/v1/account/challenge", json={})
    assert used(store) == ["f" * 64, solution["challenge"]]  # those that could still verify


@pytest.mark.parametrize(
    ("entry", "expired"),
    [
        pytest.param({"id": "a", "at": 0.0, "expires": 100.0}, False, id="at-expiry"),
        pytest.param({"id": "a", "at": 0.0, "expires": 99.5}, True, id="past-expiry"),
        pytest.param({"id": "a", "at": 0.0, "expires": 500.0}, False, id="used-long-ago"),
        pytest.param({"id": "a", "at": 0.0}, True, id="old-entry-expired"),
        pytest.param({"id": "a", "at": 50.0}, False, id="old-entry-recent"),
    ],
)
def test_a_use_is_forgotten_by_altchas_own_expiry_rule(
    entry: dict[str, Any], expired: bool
) -> None:
    # altcha refuses when now > expires; an entry stored before expiries were kept
    # expired at most TTL after its use
    assert expired_uses([entry], now=100.0, ttl=99.0) == (["a"] if expired else [])
