"""Exactly once under faults: many runs per sandbox, driven concurrently, while the sandbox
drops answers after committing, answers 5xx and 429 (with ``Retry-After``) and stalls past
the client's timeout on send, reply and the status reads (`campaign.inject_faults`).

What the library guarantees, and what these tests hold it to:

- A ``send_email``/``reply_email`` call carries an idempotency key derived from its call id
  and run id, so the client retries it after any fault; a commit whose answer was dropped
  is answered ``already_sent`` with the first email's id. A result with an email id
  therefore matches exactly one stored email, none is stored twice and none is lost.
- A keyed write that still fails after every attempt reports ``network_error`` or
  ``api_error`` (never ``outcome_unknown``, which is for writes that cannot be retried):
  zero or one email was stored for it (one when an attempt committed before its answer
  was lost), never two, and dispatching the same call again completes it exactly once.
- Every run ends in an explicit `RunOutcome.status`.
"""

from __future__ import annotations

import json

from mm_assistants import (
    CallContext,
    Dispatcher,
    MemoryPendingStore,
    MultiMailClient,
    ToolCall,
)
from tests.reliability.campaign import Campaign
from tests.reliability.support import (
    QUICK_APPROVALS,
    SEND_ROUTE,
    Approver,
    api,
    fast_retry,
    fast_sandbox,
    scaled,
    stored_by_subject,
)

#: Runs per test; the two tests together make 200 (CI slice) or 1,000 (full).
ASYNC_RUNS = scaled(140, 700)
SYNC_RUNS = scaled(60, 300)


async def test_every_write_of_concurrent_async_runs_is_stored_exactly_once_under_faults() -> None:
    with Campaign.open(seed=7) as campaign, Approver(campaign.sandbox) as approver:
        campaign.plan(ASYNC_RUNS, "a")
        kinds = await campaign.drive_async(approver)
    print(f"async runs: {len(campaign.runs)}; write results: {dict(kinds)}")


def test_every_write_of_concurrent_sync_runs_is_stored_exactly_once_under_faults() -> None:
    with Campaign.open(seed=11) as campaign, Approver(campaign.sandbox) as approver:
        campaign.plan(SYNC_RUNS, "s")
        kinds = campaign.drive_sync(approver)
    print(f"sync runs: {len(campaign.runs)}; write results: {dict(kinds)}")


def test_a_gated_send_whose_answer_was_dropped_still_waits_for_the_decision() -> None:
    call = ToolCall(
        id="call_held",
        name="send_email",
        arguments=json.dumps({"to": ["bob@example.com"], "subject": "Held", "markdown": "Hi"}),
        context=CallContext(thread_id="thread_1", run_id="run_1"),
    )
    store = MemoryPendingStore()
    with fast_sandbox() as sandbox, Approver(sandbox):
        sandbox.faults.add(SEND_ROUTE, commit_then_drop=True, next_n=1)
        with MultiMailClient(
            api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, retry=fast_retry()
        ) as client:
            dispatcher = Dispatcher(
                client, mailbox_id=sandbox.mailbox_id, audit=None, approval_store=store
            )
            result = dispatcher.dispatch(call, approvals=QUICK_APPROVALS)
        with api(sandbox, "read") as reader:
            listing = reader.get(f"/v1/mailboxes/{sandbox.mailbox_id}/emails")
        stored = [e["id"] for e in listing.json()["emails"] if e["direction"] == "outbound"]

    assert result.ok
    assert stored == [json.loads(result.output)["id"]]  # stored once, as promised
    assert result.approval is not None, f"no approval wait; the model read {result.output}"
    assert result.approval.decision == "approved"


def test_a_send_whose_every_answer_was_lost_tells_the_model_it_may_have_gone() -> None:
    call = ToolCall(
        id="call_lost",
        name="send_email",
        arguments=json.dumps({"to": ["bob@example.com"], "subject": "Lost", "markdown": "Hi"}),
        context=CallContext(thread_id="thread_1", run_id="run_1"),
    )
    with fast_sandbox() as sandbox:
        sandbox.faults.add(SEND_ROUTE, commit_then_drop=True)  # every attempt
        with MultiMailClient(
            api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, retry=fast_retry()
        ) as client:
            dispatcher = Dispatcher(client, mailbox_id=sandbox.mailbox_id, audit=None)
            result = dispatcher.dispatch(call)
        stored = stored_by_subject(sandbox, [sandbox.mailbox_id])

    assert [len(ids) for ids in stored.values()] == [1]  # stored once, as promised
    assert not result.ok
    assert result.error_type == "outcome_unknown", result.output
