"""The parked-run core (`mm_assistants.drivers.parking`) pinned to what users see: the exact
refusal messages, the 24 h and 25 day boundaries, every field of the stored format, rows
another process wrote, and ids and digests that other processes (and releases) recompute."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from mm_assistants.drivers import parking
from mm_assistants.drivers.parking import (
    CheckpointError,
    Fingerprint,
    HeldSend,
    ParkedCall,
    RunCheckpoint,
)

NOW = 1_800_000_000.0
SHA_A = "0123456789abcdef" * 4
SHA_B = "fedcba9876543210" * 4
PRINT = Fingerprint("v1", SHA_A, {"mailbox_id": "mbx_1", "allowed": ["mbx_1"]})
REQUEST = {"model": "gpt-4.1", "instructions": "Be brief.", "tools": [{"name": "send_email"}]}
CALLS = [
    ("call_1", "send_email", '{"to": ["b@x.test"]}', True),
    ("call_2", "check_inbox", "{}", False),
]
RECONFIGURE = "resume it with a dispatcher configured like the one that parked it"


def checkpoint(**changes: Any) -> RunCheckpoint:
    made = parking.first_checkpoint(
        "resp_1", CALLS, request=REQUEST, fingerprint=PRINT, meta={"t": 1}, steps=2, now=NOW
    )
    return replace(made, **changes)


def parked() -> RunCheckpoint:
    """call_2 answered, call_1 held for a human."""
    return parking.with_outputs(
        checkpoint(), {"call_2": '{"emails": []}'}, {"call_1": HeldSend("em_1", "mbx_1")}
    )


def message(error: pytest.ExceptionInfo[BaseException]) -> str:
    return str(error.value)


def round_trip(made: RunCheckpoint) -> RunCheckpoint:
    return parking.decode(parking.encode(made), parking.FORMAT_VERSION)


def reencoded(made: RunCheckpoint, **fields: Any) -> bytes:
    inner = json.loads(parking.encode(made))
    inner.update(fields)
    return json.dumps(inner).encode()


# -- ids and digests other processes recompute ---------------------------------------------


def test_a_network_response_id_is_hashed_into_a_pinned_checkpoint_id() -> None:
    # another process (or release) computes the same id from a held email's response id
    odd = "resp/../admin"
    digest = hashlib.sha256(odd.encode()).hexdigest()
    assert parking.checkpoint_id_for(odd) == "park_sha256_" + digest[:40]


def test_the_tools_digest_is_the_sha256_of_compact_sorted_json() -> None:
    tools = [{"type": "function", "name": "send_email", "strict": True}]
    text = '[{"name":"send_email","strict":true,"type":"function"}]'
    assert parking.tools_digest(tools) == hashlib.sha256(text.encode()).hexdigest()


def test_a_tool_list_with_values_json_does_not_know_still_has_a_digest() -> None:
    tools = [{"name": "send_email", "limit": Decimal("2.5")}]
    text = '[{"limit":"2.5","name":"send_email"}]'
    assert parking.tools_digest(tools) == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("mailbox_id", "allowed", "scope"),
    [
        pytest.param(
            "mbx_1",
            {"mbx_2", "mbx_1"},
            {"mailbox_id": "mbx_1", "allowed": ["mbx_1", "mbx_2"]},
            id="allow-list-sorted",
        ),
        pytest.param(None, None, {"mailbox_id": None, "allowed": None}, id="any-mailbox"),
        pytest.param("mbx_1", (), {"mailbox_id": "mbx_1", "allowed": []}, id="none-allowed"),
    ],
)
def test_the_mailbox_scope_as_json(mailbox_id: str | None, allowed: Any, scope: Any) -> None:
    assert parking.scope_of(mailbox_id, allowed) == scope


# -- exact refusals ------------------------------------------------------------------------


def test_transport_options_are_all_named_in_the_refusal() -> None:
    with pytest.raises(ValueError) as caught:
        parking.request_template({"model": "m", "extra_query": {}, "extra_headers": {}})
    assert message(caught) == (
        "a run that may park cannot take extra_headers, extra_query: a checkpoint never"
        " stores transport options (they may carry credentials); set them on the client"
    )


def test_store_false_is_refused_with_what_to_drop() -> None:
    with pytest.raises(ValueError) as caught:
        parking.request_template({"model": "m", "store": False})
    assert message(caught) == (
        "a run with store=False cannot park: OpenAI keeps no response to continue from;"
        " drop park_after or store=False"
    )
    assert parking.request_template({"model": "m", "store": True}) == {"model": "m", "store": True}


def test_request_parameters_that_are_not_json_are_refused() -> None:
    with pytest.raises(ValueError) as caught:
        parking.request_template({"model": "m", "metadata": {"at": object()}})
    assert message(caught) == "a run that may park needs JSON request parameters"


def test_checkpoint_meta_refusals_name_the_problem() -> None:
    with pytest.raises(ValueError) as caught:
        parking.check_meta(["t1"])
    assert message(caught) == "checkpoint_meta must be a dict, not list"
    with pytest.raises(ValueError) as caught:
        parking.check_meta({"at": object()})
    assert message(caught) == "checkpoint_meta must hold JSON values only"
    parking.check_meta(None)
    parking.check_meta({"thread": "t_1", "n": [1, 2]})


def test_another_format_version_is_refused_with_the_release_hint() -> None:
    with pytest.raises(CheckpointError) as caught:
        parking.decode(parking.encode(checkpoint()), 2)
    assert message(caught) == (
        "checkpoint format 2 is not 1: written by another release of mm-assistants"
    )
    with pytest.raises(CheckpointError) as caught:
        parking.decode(reencoded(checkpoint(), format=7), parking.FORMAT_VERSION)
    assert message(caught) == "checkpoint format 7 is not 1"


def test_another_registry_is_named() -> None:
    with pytest.raises(CheckpointError) as caught:
        parking.check_fingerprint(checkpoint(), replace(PRINT, registry="v2"))
    assert message(caught) == (
        "checkpoint park_resp_1 was parked with the v1 tools, this dispatcher has v2"
    )


def test_another_tool_set_is_named_by_both_digests_first_12_digits() -> None:
    with pytest.raises(CheckpointError) as caught:
        parking.check_fingerprint(checkpoint(), replace(PRINT, tools_sha256=SHA_B))
    assert message(caught) == (
        "checkpoint park_resp_1 was parked with another tool set (sha256 0123456789ab...,"
        f" this dispatcher's is fedcba987654...): {RECONFIGURE}"
    )


def test_another_mailbox_scope_is_named() -> None:
    with pytest.raises(CheckpointError) as caught:
        parking.check_fingerprint(checkpoint(), replace(PRINT, scope={"mailbox_id": "mbx_2"}))
    assert message(caught) == (
        f"checkpoint park_resp_1 was parked with another mailbox scope: {RECONFIGURE}"
    )


# -- the format: every field round-trips --------------------------------------------------


def test_the_first_checkpoint_holds_everything_given() -> None:
    made = checkpoint()
    assert made.checkpoint_id == "park_resp_1"
    assert made.response_id == "resp_1"
    assert made.phase == "dispatching"
    assert made.request == REQUEST
    assert made.calls == (
        ParkedCall(
            "call_1", "send_email", '{"to": ["b@x.test"]}', gated=True, first_attempt_at=NOW
        ),
        ParkedCall("call_2", "check_inbox", "{}", gated=False, first_attempt_at=NOW),
    )
    assert (made.registry, made.tools_sha256, made.scope) == ("v1", SHA_A, PRINT.scope)
    assert made.parked_at == NOW
    assert made.meta == {"t": 1}
    assert made.steps == 2
    assert made.next_response_id is None
    assert made.format == parking.FORMAT_VERSION
    assert made.held() == []  # nothing is held before anything was sent


def test_outputs_and_held_sends_are_recorded() -> None:
    made = parked()
    assert made.phase == "parked"
    assert made.calls[1].output == '{"emails": []}'
    assert made.calls[1].held is None
    assert made.calls[0].held == HeldSend("em_1", "mbx_1")
    assert made.calls[0].output is None
    assert made.held() == [made.calls[0]]


def test_a_decided_send_gets_its_output_and_is_no_longer_held() -> None:
    decided = parking.with_outputs(parked(), {"call_1": '{"status": "sent"}'}, {})
    assert decided.calls[0].output == '{"status": "sent"}'
    assert decided.calls[0].held is None
    assert decided.calls[1].output == '{"emails": []}'  # a call with neither keeps its own
    assert decided.held() == []


def test_a_send_held_again_has_no_output() -> None:
    answered = replace(checkpoint(), calls=(replace(checkpoint().calls[0], output="{}"),))
    again = parking.with_outputs(answered, {}, {"call_1": HeldSend("em_2", "mbx_1")})
    assert again.calls[0].output is None
    assert [call.call_id for call in again.held()] == ["call_1"]


def test_a_submitted_checkpoint_continues_from_the_answer_and_round_trips() -> None:
    made = parking.submitted(parked(), "resp_2")
    assert made.phase == "submitted"
    assert made.next_response_id == "resp_2"
    assert made.calls == parked().calls
    back = round_trip(made)
    assert back == made
    assert back.next_response_id == "resp_2"
    assert parking.next_move(back, now=NOW + 60) == "continue"


def test_every_field_round_trips() -> None:
    made = replace(
        parking.submitted(parked(), "resp_9"),
        meta={"thread": "t_1", "n": [1, 2]},
        steps=7,
        parked_at=NOW + 0.25,
        calls=(
            *parked().calls,
            ParkedCall("call_3", "read_email", "{}", gated=False, first_attempt_at=12.5),
        ),
    )
    back = round_trip(made)
    for name in RunCheckpoint.__dataclass_fields__:
        assert getattr(back, name) == getattr(made, name), name
    assert back.calls[2].first_attempt_at == 12.5


def test_equal_checkpoints_are_stored_as_the_same_bytes() -> None:
    # the record is canonical JSON: the order the caller built its dicts in changes nothing
    one = checkpoint(meta={"a": 1, "b": 2}, request={"model": "m", "instructions": "x"})
    two = checkpoint(meta={"b": 2, "a": 1}, request={"instructions": "x", "model": "m"})
    assert one == two
    assert parking.encode(one) == parking.encode(two)
    text = parking.encode(one).decode()
    assert text.index('"calls"') < text.index('"checkpoint_id"') < text.index('"steps"')


# -- rows another process wrote -----------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"parked_at": "1800000000"}, id="time-as-text"),
        pytest.param({"parked_at": True}, id="time-as-bool"),
        pytest.param({"parked_at": None}, id="time-missing"),
        pytest.param({"next_response_id": 7}, id="next-response-not-text"),
        pytest.param({"request": {"model": "m", "timeout": 600}}, id="transport-option"),
        pytest.param({"phase": "PARKED"}, id="phase-unknown"),
        pytest.param({"steps": 2.0}, id="steps-not-int"),
    ],
)
def test_a_poisoned_field_is_refused_with_the_fixed_message(fields: dict[str, Any]) -> None:
    with pytest.raises(CheckpointError) as caught:
        parking.decode(reencoded(checkpoint(), **fields), parking.FORMAT_VERSION)
    assert message(caught) == "the checkpoint record is malformed"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("NaN", id="nan"),
        pytest.param("Infinity", id="infinity"),
        pytest.param("-Infinity", id="minus-infinity"),
        pytest.param("1" + "0" * 400, id="int-too-large-for-a-float"),
    ],
)
def test_a_time_that_is_no_time_is_refused(value: str) -> None:
    # real bug, fixed: NaN or infinity parked a run forever (never "too old"), and a huge
    # integer escaped as OverflowError instead of a CheckpointError
    text = parking.encode(checkpoint()).decode()
    for name in ("parked_at", "first_attempt_at"):
        poisoned = text.replace(f'"{name}": {NOW}', f'"{name}": {value}', 1)
        assert poisoned != text
        with pytest.raises(CheckpointError) as caught:
            parking.decode(poisoned.encode(), parking.FORMAT_VERSION)
        assert message(caught) == "the checkpoint record is malformed"


def test_an_integer_time_is_read_as_a_float() -> None:
    back = parking.decode(reencoded(checkpoint(), parked_at=1_800_000_000), 1)
    assert back.parked_at == NOW
    assert isinstance(back.parked_at, float)


# -- the 24 h and 25 day rules at their boundaries ---------------------------------------


def test_the_key_lifetime_is_24_hours_less_30_minutes() -> None:
    assert parking.KEY_LIFETIME_SECONDS == 84_600.0


@pytest.mark.parametrize(
    ("age", "again"),
    [
        pytest.param(parking.KEY_LIFETIME_SECONDS - 1, True, id="a-second-before"),
        pytest.param(parking.KEY_LIFETIME_SECONDS, False, id="exactly"),
    ],
)
def test_a_gated_send_at_the_key_lifetime_boundary(age: float, again: bool) -> None:
    call = ParkedCall("call_1", "send_email", "{}", gated=True, first_attempt_at=NOW)
    assert parking.redispatchable(call, now=NOW + age) is again


def test_a_parked_checkpoint_redispatches_nothing() -> None:
    todo, planned = parking.redispatch_plan(parked(), NOW + 60)
    assert todo == []  # answered calls and held sends are never sent again
    assert planned == parked()


def test_a_stale_send_gets_the_pinned_unknown_outcome() -> None:
    todo, planned = parking.redispatch_plan(checkpoint(), NOW + parking.KEY_LIFETIME_SECONDS)
    assert [c.call_id for c in todo] == ["call_2"]
    assert planned.calls[0].output == json.dumps(
        {
            "status": "unknown",
            "note": "This send was first attempted more than 24 hours ago and the process "
            "sending it stopped before its answer was recorded. It was not sent again: its "
            "outcome is unknown. Check the mailbox's sent and held mail before sending it "
            "again.",
        }
    )
    assert planned.calls[1].output is None
