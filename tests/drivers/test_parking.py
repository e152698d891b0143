"""The pure core of parked runs (`mm_assistants.drivers.parking`): the checkpoint format,
its refusals, and the decisions a resume takes (24 h and 25 day rules)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm_assistants.approvals import (
    ApprovalPolicy,
    MemoryPendingStore,
    resolve_decision,
    resolve_pending,
)
from mm_assistants.approvals.store import PARK_LIMIT_SECONDS
from mm_assistants.drivers import parking
from mm_assistants.drivers.parking import (
    CheckpointError,
    Fingerprint,
    HeldSend,
    ParkedCall,
    RunCheckpoint,
)
from mm_assistants.state import PendingRecord

NOW = 1_800_000_000.0
PRINT = Fingerprint("v1", "a" * 64, {"mailbox_id": "mbx_1", "allowed": ["mbx_1"]})
REQUEST = {"model": "gpt-4.1", "instructions": "Be brief.", "tools": [{"name": "send_email"}]}
BASE_CALL = {
    "call_id": "call_1",
    "name": "send_email",
    "arguments": "{}",
    "gated": True,
    "first_attempt_at": 1.0,
    "output": None,
}
CALLS = [
    ("call_1", "send_email", '{"to": ["b@x.test"]}', True),
    ("call_2", "check_inbox", "{}", False),
]


def checkpoint(**changes: Any) -> RunCheckpoint:
    made = parking.first_checkpoint(
        "resp_1", CALLS, request=REQUEST, fingerprint=PRINT, meta={"t": 1}, steps=2, now=NOW
    )
    return replace(made, **changes)


# -- the policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"park_after": 0}, "park_after must be > 0", id="zero"),
        pytest.param({"park_after": -1.0}, "park_after must be > 0", id="negative"),
        pytest.param({"park_after": math.inf}, "finite", id="infinite"),
        pytest.param({"park_after": math.nan}, "finite", id="nan"),
        pytest.param({"park_after": True}, "finite", id="bool"),
        pytest.param({"park_after": 5.0, "wait": False}, "needs wait=True", id="no-wait"),
        pytest.param({"park_after": 540.0}, "below max_wait", id="not-below-max-wait"),
    ],
)
def test_a_bad_park_after_is_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ApprovalPolicy(**options)


def test_park_after_is_off_by_default_and_kept_when_valid() -> None:
    assert ApprovalPolicy().park_after is None
    assert ApprovalPolicy(park_after=30.0).park_after == 30.0


# -- ids ----------------------------------------------------------------------------------


def test_the_checkpoint_id_comes_from_the_response_id() -> None:
    assert parking.checkpoint_id_for("resp_abc123") == "park_resp_abc123"


@given(st.text(min_size=1, max_size=300))
def test_any_response_id_gives_a_plain_checkpoint_id(response_id: str) -> None:
    made = parking.checkpoint_id_for(response_id)
    assert made.startswith(parking.PREFIX)
    assert all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in made)
    assert len(made) <= 140
    assert made == parking.checkpoint_id_for(response_id)  # the same every time


@pytest.mark.parametrize(
    ("record", "target"),
    [
        pytest.param({"checkpoint_id": "park_resp_9"}, "park_resp_9", id="parked"),
        pytest.param({"response_id": "resp_2"}, "park_resp_2", id="from-response"),
        pytest.param({"thread_id": "thread_1"}, None, id="assistants"),
    ],
)
def test_resume_target(record: dict[str, str], target: str | None) -> None:
    pending = PendingRecord(email_id="e1", mailbox_id="m", call_id="c", tool="send_email", **record)
    assert parking.resume_target(pending) == target


# -- the format ---------------------------------------------------------------------------


def test_a_checkpoint_round_trips() -> None:
    parked = parking.with_outputs(
        checkpoint(),
        {"call_2": '{"emails": []}'},
        {"call_1": HeldSend("em_1", "mbx_1")},
    )
    back = parking.decode(parking.encode(parked), parking.FORMAT_VERSION)
    assert back == parked
    assert [call.call_id for call in back.held()] == ["call_1"]
    assert back.phase == "parked"


@given(
    outputs=st.dictionaries(st.sampled_from(["call_1", "call_2"]), st.text(max_size=50)),
    meta=st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10)),
    steps=st.integers(min_value=0, max_value=1000),
)
def test_any_checkpoint_round_trips(
    outputs: dict[str, str], meta: dict[str, Any], steps: int
) -> None:
    made = parking.with_outputs(checkpoint(meta=meta, steps=steps), outputs, {})
    assert parking.decode(parking.encode(made), parking.FORMAT_VERSION) == made


def test_another_format_version_is_refused() -> None:
    record = parking.encode(checkpoint())
    with pytest.raises(CheckpointError, match="format 2 is not 1"):
        parking.decode(record, 2)
    inner = json.loads(record)
    inner["format"] = 7
    with pytest.raises(CheckpointError, match="format 7"):
        parking.decode(json.dumps(inner).encode(), parking.FORMAT_VERSION)


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b'{"phase": "parked"}', id="missing-fields"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
    ],
)
def test_a_malformed_record_is_refused_without_quoting_it(record: bytes) -> None:
    with pytest.raises(CheckpointError, match="malformed") as caught:
        parking.decode(record, parking.FORMAT_VERSION)
    assert "phase" not in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("phase", "running", id="unknown-phase"),
        pytest.param("steps", True, id="bool-steps"),
        pytest.param("parked_at", "yesterday", id="text-time"),
        pytest.param("calls", [{"call_id": 1}], id="bad-call"),
    ],
)
def test_a_field_of_the_wrong_kind_is_refused(field: str, value: Any) -> None:
    inner = json.loads(parking.encode(checkpoint()))
    inner[field] = value
    with pytest.raises(CheckpointError):
        parking.decode(json.dumps(inner).encode(), parking.FORMAT_VERSION)


@pytest.mark.parametrize(
    "poison",
    [
        pytest.param({"request": {"model": "m", "extra_headers": {"X": "1"}}}, id="headers"),
        pytest.param(
            {"calls": [{**BASE_CALL, "held": {"email_id": "../admin", "mailbox_id": "m"}}]},
            id="path-in-email-id",
        ),
    ],
)
def test_a_row_written_by_someone_else_cannot_steer_a_resume(poison: dict[str, Any]) -> None:
    inner = json.loads(parking.encode(checkpoint()))
    inner.update(poison)
    with pytest.raises(CheckpointError, match="malformed"):
        parking.decode(json.dumps(inner).encode(), parking.FORMAT_VERSION)


def test_a_resume_with_another_tool_set_or_scope_is_refused_clearly() -> None:
    made = checkpoint()
    parking.check_fingerprint(made, PRINT)  # the same driver: fine
    with pytest.raises(CheckpointError, match="another tool set"):
        parking.check_fingerprint(made, replace(PRINT, tools_sha256="b" * 64))
    with pytest.raises(CheckpointError, match="v1 tools, this dispatcher has v2"):
        parking.check_fingerprint(made, replace(PRINT, registry="v2"))
    with pytest.raises(CheckpointError, match="another mailbox scope"):
        parking.check_fingerprint(made, replace(PRINT, scope={"mailbox_id": None, "allowed": None}))


def test_the_tools_digest_ignores_key_order_but_not_content() -> None:
    one = [{"name": "send_email", "type": "function"}]
    assert parking.tools_digest(one) == parking.tools_digest(
        [{"type": "function", "name": "send_email"}]
    )
    assert parking.tools_digest(one) != parking.tools_digest(
        [{"name": "read_email", "type": "function"}]
    )


# -- what may be stored -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        pytest.param({"store": False}, "store=False", id="store-false"),
        pytest.param(
            {"extra_headers": {"Authorization": "Bearer sk-x"}}, "extra_headers", id="headers"
        ),
        pytest.param({"extra_query": {"key": "x"}}, "extra_query", id="query"),
        pytest.param({"metadata": {"at": object()}}, "JSON", id="not-json"),
    ],
)
def test_what_a_checkpoint_cannot_store_is_refused(request_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parking.request_template({"model": "m", **request_})
    assert "sk-x" not in str(caught.value)


def test_the_template_drops_the_input_and_the_previous_response() -> None:
    template = parking.request_template({**REQUEST, "input": "hi", "previous_response_id": "r"})
    assert template == REQUEST


@pytest.mark.parametrize("meta", [["t1"], {"at": object()}])
def test_checkpoint_meta_must_be_a_json_dict(meta: Any) -> None:
    with pytest.raises(ValueError, match="checkpoint_meta"):
        parking.check_meta(meta)


# -- what a resume does -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "age", "move"),
    [
        pytest.param("parked", 60.0, "collect", id="parked"),
        pytest.param("dispatching", 60.0, "redispatch", id="crash-mid-dispatch"),
        pytest.param("submitted", 60.0, "continue", id="crash-after-submit"),
        pytest.param("parked", 25 * 86400.0, "collect", id="25-days-exactly"),
        pytest.param("parked", 25 * 86400.0 + 1, "fall_back", id="over-25-days"),
        pytest.param("submitted", 26 * 86400.0, "fall_back", id="submitted-too-old"),
    ],
)
def test_the_next_move(phase: str, age: float, move: str) -> None:
    assert parking.next_move(checkpoint(phase=phase), now=NOW + age) == move


def test_the_park_limit_is_below_openais_30_days() -> None:
    assert parking.MAX_PARK_SECONDS == PARK_LIMIT_SECONDS
    assert 24 * 86400 <= parking.MAX_PARK_SECONDS < 30 * 86400


@pytest.mark.parametrize(
    ("gated", "age", "again"),
    [
        pytest.param(True, 3600.0, True, id="gated-1h"),
        pytest.param(True, 23 * 3600.0, True, id="gated-23h"),
        pytest.param(True, 24 * 3600.0, False, id="gated-24h"),
        pytest.param(True, 30 * 3600.0, False, id="gated-30h"),
        pytest.param(False, 30 * 3600.0, True, id="read-30h"),
    ],
)
def test_a_gated_send_is_never_re_dispatched_after_24_hours(
    gated: bool, age: float, again: bool
) -> None:
    call = ParkedCall("call_1", "send_email", "{}", gated=gated, first_attempt_at=NOW)
    assert parking.redispatchable(call, now=NOW + age) is again


def test_a_redispatch_plan_sends_unanswered_calls_and_marks_stale_sends_unknown() -> None:
    made = checkpoint()
    todo, planned = parking.redispatch_plan(made, NOW + 60)
    assert [c.call_id for c in todo] == ["call_1", "call_2"]
    assert planned == made

    todo, planned = parking.redispatch_plan(made, NOW + 25 * 3600)
    assert [c.call_id for c in todo] == ["call_2"]  # the read is repeated, the send never
    answer = json.loads(str(planned.calls[0].output))
    assert answer["status"] == "unknown"
    assert "not sent again" in answer["note"]


def test_the_follow_up_has_the_outputs_first_then_the_followers() -> None:
    outputs = [{"type": "function_call_output", "call_id": "call_1", "output": "{}"}]
    follow = [{"role": "user", "content": "Another email came in."}]
    request = parking.follow_up_request(checkpoint(), outputs, follow)
    assert request["input"] == [*outputs, *follow]
    assert request["previous_response_id"] == "resp_1"
    assert request["instructions"] == "Be brief."  # not carried over by OpenAI: sent again
    in_conversation = checkpoint(request={**REQUEST, "conversation": "conv_1"})
    assert "previous_response_id" not in parking.follow_up_request(in_conversation, outputs, [])


def test_the_repr_shows_no_conversation_text() -> None:
    made = checkpoint(request={**REQUEST, "instructions": "SECRET PLAN"})
    assert "SECRET" not in repr(made)


# -- the late-decision path leaves parked records to their resume -------------------------


APPROVED = {"status": "approved_and_sent", "approved_at": "2026-11-28T10:00:00Z"}


@pytest.mark.parametrize(
    ("checkpoint_id", "age", "delivered"),
    [
        pytest.param("park_resp_1", 60.0, False, id="parked"),
        pytest.param("park_resp_1", PARK_LIMIT_SECONDS + 60, True, id="parked-too-long"),
        pytest.param(None, 60.0, True, id="fell-back"),
    ],
)
def test_resolve_pending_leaves_a_parked_record_to_its_resume(
    checkpoint_id: str | None, age: float, delivered: bool
) -> None:
    store = MemoryPendingStore()
    record = PendingRecord(
        email_id="em_1",
        mailbox_id="m",
        call_id="c",
        tool="send_email",
        response_id="resp_1",
        checkpoint_id=checkpoint_id,
        recorded_at=time.time() - age,
    )
    store.add(record)
    told: list[str] = []

    resolve_pending(store, lambda *_: APPROVED, lambda r, o: told.append(r.email_id))
    heard = resolve_decision(store, "em_1", APPROVED, lambda r, o: told.append(r.email_id))

    assert told == (["em_1"] if delivered else [])
    assert heard is None
    assert (store.get("em_1") is None) is delivered
