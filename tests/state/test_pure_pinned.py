"""The state package's pure decisions, pinned (issue 14): who may still hold a claim, when
a lease or a wait still holds, the token format, and the exact refusals of record decoding
and checkpoint checks (fixed messages that never quote the stored text)."""

from __future__ import annotations

import os
import re
import socket
from typing import Any

import pytest

from mm_assistants.state import owners
from mm_assistants.state.checkpoints import Checkpoint, check_checkpoint, claim_holds
from mm_assistants.state.owners import host_identity, new_token, owner_alive
from mm_assistants.state.pending import PendingRecord, decode_record, encode_record

HOST = host_identity()
GONE = f"{HOST}:99999999"


def test_liveness_is_asked_with_signal_zero_only(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, signal: sent.append((pid, signal)))
    assert owner_alive(f"{HOST}:4242")
    assert sent == [(4242, 0)]


def test_the_pid_is_what_follows_the_last_colon(monkeypatch: pytest.MonkeyPatch) -> None:
    # a host name with a colon in it (an IPv6-style name) still names this host
    monkeypatch.setattr(socket, "gethostname", lambda: "node:7")
    monkeypatch.setattr(owners, "_pid_namespace", lambda: "")
    assert owner_alive("node:7:99999999") is False
    assert owner_alive(f"node:7:{os.getpid()}") is True


def test_a_new_token_is_16_hex_digits_at_this_process() -> None:
    token = new_token()
    assert re.fullmatch(rf"[0-9a-f]{{16}}@{re.escape(HOST)}:{os.getpid()}", token)
    assert new_token() != token


def record(**given: Any) -> PendingRecord:
    return PendingRecord(email_id="em_1", mailbox_id="mbx_1", call_id="c", tool="t", **given)


@pytest.mark.parametrize(
    ("given", "now", "waited_on"),
    [
        pytest.param({}, 100.0, False, id="no-wait"),
        pytest.param({"waiting_until": 100.0}, 100.0, False, id="ends-now"),
        pytest.param({"waiting_until": 99.0}, 100.0, False, id="ended"),
        pytest.param({"waiting_until": 101.0, "owner": None}, 100.0, True, id="no-owner"),
        pytest.param(
            {"waiting_until": 101.0, "owner": f"{HOST}:{os.getpid()}"}, 100.0, True, id="alive"
        ),
        pytest.param({"waiting_until": 101.0, "owner": GONE}, 100.0, False, id="owner-gone"),
    ],
)
def test_a_record_is_waited_on_only_by_a_live_wait(
    given: dict[str, Any], now: float, waited_on: bool
) -> None:
    assert record(**given).waited_on(now) is waited_on


def test_a_record_round_trips_through_its_stored_json() -> None:
    original = record(thread_id="th", run_id="run", recorded_at=5.0, waiting_until=9.5, owner="o")
    assert decode_record(encode_record(original)) == original
    newer = encode_record(original)[:-1] + ', "added_later": 1}'
    assert decode_record(newer) == original


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("{nope", "not JSON", id="not-json"),
        pytest.param("[" * 100_000, "not JSON", id="too-deep"),
        pytest.param('["em_1"]', "not a JSON object", id="a-list"),
        pytest.param('{"email_id": "em_1"}', "a required field is missing", id="missing"),
        pytest.param(
            '{"email_id": "em_1", "mailbox_id": "m", "call_id": "c", "tool": null}',
            "a required field is missing",
            id="null-required",
        ),
        pytest.param(
            '{"email_id": 7, "mailbox_id": "m", "call_id": "c", "tool": "t"}',
            "a field has the wrong type",
            id="number-for-text",
        ),
        pytest.param(
            '{"email_id": "e", "mailbox_id": "m", "call_id": "c", "tool": "t", '
            '"recorded_at": true}',
            "a field has the wrong type",
            id="bool-for-number",
        ),
    ],
)
def test_an_unreadable_record_is_refused_with_a_fixed_message(text: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        decode_record(text)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        pytest.param(
            ("", b"x", 1), ValueError, "checkpoint_id must be a non-empty string", id="empty-id"
        ),
        pytest.param(
            (7, b"x", 1), ValueError, "checkpoint_id must be a non-empty string", id="number-id"
        ),
        pytest.param(("c", "text", 1), TypeError, "record must be bytes, not str", id="text"),
        pytest.param(
            ("c", b"x", 1.0), TypeError, "format_version must be an int, not float", id="float"
        ),
        pytest.param(
            ("c", b"x", True), TypeError, "format_version must be an int, not bool", id="bool"
        ),
        pytest.param(("c", b"x", 0), ValueError, "format_version must be >= 1, not 0", id="zero"),
    ],
)
def test_a_checkpoint_no_backend_may_store_is_refused_naming_the_argument(
    args: tuple[Any, Any, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as refused:
        check_checkpoint(*args)
    assert str(refused.value) == message


@pytest.mark.parametrize("record_type", [bytes, bytearray, memoryview])
def test_every_bytes_like_record_is_accepted(record_type: type) -> None:
    check_checkpoint("c", record_type(b"x"), 1)


@pytest.mark.parametrize(
    ("until", "holds"),
    [(None, False), (99.0, False), (100.0, False), (100.5, True)],
)
def test_a_checkpoint_claim_holds_until_its_lease_ends(until: float | None, holds: bool) -> None:
    checkpoint = Checkpoint("c", b"x", 1, 0.0, fence=1, claimed_until=until)
    assert claim_holds(checkpoint, 100.0) is holds
