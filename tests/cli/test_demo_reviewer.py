import io
import json

import httpx
import pytest
import respx

from mm_assistants.cli.console import Console
from mm_assistants.cli.demo_reviewer import Decision, Reviewer, after_delay, at_terminal
from mm_assistants.multimail import MultiMailClient

BASE = "https://mm.test"
HELD = {"id": "em_1", "to": ["ana@example.com"], "subject": "Re: call", "body_markdown": "Hi\nAna"}


def make_reviewer(decider, clock, out):  # type: ignore[no-untyped-def]
    client = MultiMailClient(api_key="mm_test_oversight", base_url=BASE)
    console = Console(out, live=False)
    return Reviewer(client, decider, console, deadline_of=lambda seen: seen + 60, clock=clock)


@respx.mock
def test_an_automatic_reviewer_decides_once_the_delay_has_passed() -> None:
    respx.get(f"{BASE}/v1/oversight/pending").respond(json={"emails": [HELD]})
    decide = respx.post(f"{BASE}/v1/oversight/decide").respond(json={"status": "approved_and_sent"})
    now = [100.0]
    out = io.StringIO()
    reviewer = make_reviewer(after_delay("approve", 3.0), lambda: now[0], out)

    reviewer.tick()
    assert not decide.called
    now[0] = 103.5
    reviewer.tick()
    reviewer.tick()  # decided already: not again

    assert decide.call_count == 1
    assert json.loads(decide.calls[0].request.content) == {"email_id": "em_1", "action": "approve"}
    assert reviewer.decided == {"em_1": Decision("approve")}
    assert "approved em_1 after 3.5 s" in out.getvalue()


@respx.mock
def test_a_rejection_carries_its_reason() -> None:
    respx.get(f"{BASE}/v1/oversight/pending").respond(json={"emails": [HELD]})
    decide = respx.post(f"{BASE}/v1/oversight/decide").respond(json={"status": "rejected"})
    out = io.StringIO()
    reviewer = make_reviewer(after_delay("reject", 0, "not yet"), lambda: 5.0, out)
    reviewer.tick()
    assert json.loads(decide.calls[0].request.content) == {
        "email_id": "em_1",
        "action": "reject",
        "reason": "not yet",
    }
    assert "rejected em_1 after 0.0 s (reason: not yet)" in out.getvalue()


@respx.mock
def test_a_queue_that_cannot_be_read_is_reported_not_raised() -> None:
    respx.get(f"{BASE}/v1/oversight/pending").respond(403, json={"error": "needs oversight"})
    out = io.StringIO()
    make_reviewer(after_delay("approve", 0), lambda: 1.0, out).tick()
    assert "could not read the queue" in out.getvalue()
    assert "mm_test_oversight" not in out.getvalue()


def test_the_person_at_the_terminal_is_shown_the_email_and_asked() -> None:
    answers = iter(["maybe", "r", "wrong tone"])
    out = io.StringIO()
    decider = at_terminal(Console(out, live=False), lambda prompt: next(answers))
    assert decider(HELD, 1.0) == Decision("reject", "wrong tone")
    shown = out.getvalue()
    assert "em_1" in shown
    assert "Re: call" in shown
    assert "Ana" in shown


def test_approving_at_the_terminal_needs_no_reason() -> None:
    decider = at_terminal(Console(io.StringIO(), live=False), lambda prompt: "a")
    assert decider(HELD, 0.0) == Decision("approve")


@respx.mock
def test_the_time_at_the_prompt_counts_as_the_reviewers_wait() -> None:
    # the wait used to be measured before the prompt: "rejected … after 0.0 s" after 17 s
    respx.get(f"{BASE}/v1/oversight/pending").respond(json={"emails": [HELD]})
    respx.post(f"{BASE}/v1/oversight/decide").respond(json={"status": "rejected"})
    now = [100.0]
    answers = iter(["r", "wrong tone"])

    def ask(prompt: str) -> str:
        now[0] += 8.5  # the person thinks
        return next(answers)

    out = io.StringIO()
    console = Console(out, live=False)
    reviewer = Reviewer(
        MultiMailClient(api_key="mm_test_oversight", base_url=BASE),
        at_terminal(console, ask),
        console,
        deadline_of=lambda seen: seen + 60,
        clock=lambda: now[0],
    )
    reviewer.tick()
    assert "reviewer ▸ rejected em_1 after 17.0 s (reason: wrong tone)" in out.getvalue()


@pytest.mark.parametrize(
    "leaving", [pytest.param(EOFError, id="ctrl-d"), pytest.param(KeyboardInterrupt, id="ctrl-c")]
)
def test_leaving_the_prompt_is_an_interrupt_not_a_decision(leaving: type[BaseException]) -> None:
    def ask(prompt: str) -> str:
        raise leaving

    decider = at_terminal(Console(io.StringIO(), live=False), ask)
    with pytest.raises(KeyboardInterrupt):
        decider(HELD, 0.0)


@respx.mock
def test_an_email_decided_elsewhere_first_is_not_decided_again() -> None:
    pending = respx.get(f"{BASE}/v1/oversight/pending")
    pending.side_effect = [
        httpx.Response(200, json={"emails": [HELD]}),
        httpx.Response(200, json={"emails": []}),  # decided on the review page meanwhile
        httpx.Response(200, json={"emails": []}),
    ]
    decide = respx.post(f"{BASE}/v1/oversight/decide").respond(json={"status": "approved"})
    now = [100.0]
    out = io.StringIO()
    reviewer = make_reviewer(after_delay("approve", 3.0), lambda: now[0], out)
    reviewer.tick()
    now[0] = 110.0
    reviewer.tick()
    reviewer.tick()
    assert not decide.called
    assert reviewer.elsewhere == {"em_1"}
    assert out.getvalue().count("em_1 was decided elsewhere") == 1


@respx.mock
def test_a_decision_that_loses_the_race_is_reported_not_raised() -> None:
    respx.get(f"{BASE}/v1/oversight/pending").respond(json={"emails": [HELD]})
    decide = respx.post(f"{BASE}/v1/oversight/decide").respond(
        409, json={"error": "Email is not pending approval"}
    )
    out = io.StringIO()
    reviewer = make_reviewer(after_delay("approve", 0), lambda: 5.0, out)
    reviewer.tick()
    reviewer.tick()
    assert decide.call_count == 1
    assert "em_1 was already decided elsewhere" in out.getvalue()
    assert reviewer.decided == {}
