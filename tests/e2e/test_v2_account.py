"""Account tools on schema v2, end to end: scripted assistants through the real ``openai``
SDK and a real v2 dispatcher against the sandbox. A signup assistant creates and
activates an account (the dispatcher solves the proof of work; the key goes to the
operator, never to the model); billing links go to the operator; ``ai_disclosure`` set
by an admin assistant decides what the next outbound email carries."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mm_assistants.dispatch.handoff import WITHHELD, SecretHandoff
from mm_assistants.sandbox import Sandbox
from tests.e2e.conftest import SCRIPTS, Reviewer, deliveries
from tests.e2e.v2 import (
    Session,
    mailbox_api,
    session_fixture,  # noqa: F401 -- the ``session`` fixture, used by name
)

OPERATOR = "ops@acme.example"
NO_MAILBOX: dict[str, Any] = {"mailbox_id": None}  # signup and billing act on no mailbox


@pytest.fixture
def schema_version() -> str:
    return "v2"  # these tools exist only in v2


def test_a_signup_assistant_creates_and_activates_an_account(
    sandbox: Sandbox, session: Session
) -> None:
    handed: list[SecretHandoff] = []
    account = {
        "operator_name": "Acme Robots",
        "oversight_email": OPERATOR,
        "accepted_tos": True,
        "accepted_operator_agreement": True,
        "accepted_anti_spam_policy": True,
        # the script passes the dispatcher's solution on unchanged, as the output tells it
        "pow_solution": "{{outputs.request_challenge.untrusted.pow_solution}}",
        "slug": "acme",
        "physical_address": None,
        "use_case": None,
        "oversight_mode": None,
    }
    # Each run starts the script over: the operator's first message starts the signup,
    # their second (the code alone, on the same thread) activates.
    assistant = session.assistant(
        "signup",
        [
            {
                "when": {"last_user_message_contains": "sign me up"},
                "call": "request_challenge",
                "arguments": {"oversight_email": OPERATOR},
            },
            {"call": "activate_account", "arguments": {"code": "{{last_user_message}}"}},
            {
                "when": {"last_tool_name": "request_challenge"},
                "call": "create_account",
                "arguments": account,
            },
            {"say": "Activated: {{outputs.activate_account}}"},
            {"say": "{{outputs.create_account.status}}: send me the code from your email."},
        ],
        profile="signup",
        **NO_MAILBOX,
    )
    signup = session.dispatcher("read", profile="signup", on_secret=handed.append, **NO_MAILBOX)

    created = session.run(signup, assistant, "Sign me up as Acme Robots.")
    assert created.text == "confirmation_sent: send me the code from your email."
    challenge, answer = session.outputs(created)
    solution = challenge["untrusted"]["pow_solution"]
    assert set(solution) == {"algorithm", "challenge", "number", "salt", "signature"}
    assert answer["status"] == "confirmation_sent"

    [code] = [c["id"] for c in sandbox.multimail.codes("confirm_account")]  # the operator's mail
    assert created.thread_id is not None
    activated = session.tell(signup, assistant, created.thread_id, code)

    [handoff] = handed
    assert (handoff.tool, handoff.field) == ("activate_account", "api_key")
    key = handoff.value
    assert key not in repr(handoff)
    [shown] = session.outputs(activated)
    assert shown["api_key"] == dict(WITHHELD)
    assert key not in activated.text
    sent = session.openai.sent_text()
    # the recording works: the operator's message and the tool outputs went to OpenAI
    assert code in sent
    assert solution["signature"] in sent
    assert key not in sent  # no request to OpenAI ever carried the key
    with mailbox_api(sandbox, key) as owner:  # and the operator's key works
        me = owner.get("/v1/account")
    assert me.status_code == 200, me.text
    assert OPERATOR in me.text


def test_billing_links_go_to_the_operator(sandbox: Sandbox, session: Session) -> None:
    handed: list[SecretHandoff] = []
    tools = ["upgrade_plan", "get_billing_portal"]
    billing = session.dispatcher(
        "admin", profile=None, tools=tools, on_secret=handed.append, **NO_MAILBOX
    )
    upgrade = session.assistant(
        "upgrade",
        [
            {"call": "upgrade_plan", "arguments": {"plan": "builder", "interval": "monthly"}},
            {"say": "Checkout: {{outputs.upgrade_plan.checkout_url}}"},
        ],
        profile=None,
        tools=tools,
        **NO_MAILBOX,
    )
    upgraded = session.run(billing, upgrade, "Move us to Builder.")
    [checkout] = handed
    assert (checkout.tool, checkout.field) == ("upgrade_plan", "checkout_url")
    assert session.outputs(upgraded)[0]["checkout_url"] == dict(WITHHELD)
    # the operator opens the link, as a bearer link (no sandbox control token), and pays
    # with its form: the link was real, and now there is a customer
    assert checkout.value.startswith(sandbox.base_url)
    page = httpx.get(checkout.value, headers={"Accept": "text/html"}, timeout=5)
    assert page.status_code == 200, page.text
    assert sandbox.multimail.billing()["plan"] != "builder"  # opening it pays nothing
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
    paid = httpx.post(checkout.value, headers=form, content=b"", timeout=5)
    assert paid.status_code == 200, paid.text
    assert sandbox.multimail.billing()["plan"] == "builder"

    portal = session.assistant(
        "portal",
        [{"call": "get_billing_portal", "arguments": {}}, {"say": "Portal asked."}],
        profile=None,
        tools=tools,
        **NO_MAILBOX,
    )
    opened = session.run(billing, portal, "Open the billing portal.")
    assert [(h.tool, h.field) for h in handed[1:]] == [("get_billing_portal", "portal_url")]
    assert session.outputs(opened)[0]["portal_url"] == dict(WITHHELD)
    shown = httpx.get(handed[1].value, timeout=5)
    assert shown.status_code == 200, shown.text
    assert shown.json()["plan"] == "builder"
    for handoff in handed:
        assert handoff.value not in session.openai.sent_text()


def configure(session: Session, script: str, disclose: bool) -> None:
    """An admin assistant (tools=["configure_mailbox"]) sets the mailbox's disclosure."""
    fields = (
        "oversight_mode",
        "display_name",
        "auto_cc",
        "auto_bcc",
        "signature_block",
        "default_gate_timing",
        "scheduling_enabled",
    )
    arguments = dict.fromkeys(fields) | {"ai_disclosure": disclose}
    assistant = session.assistant(
        script,
        [{"call": "configure_mailbox", "arguments": arguments}, {"say": "Done."}],
        profile=None,
        tools=["configure_mailbox"],
    )
    admin = session.dispatcher("admin", profile=None, tools=["configure_mailbox"])
    outcome = session.run(admin, assistant, "Set the AI disclosure.")
    [output] = session.outputs(outcome)
    assert "error" not in output, output


def next_delivery_headers(sandbox: Sandbox, session: Session) -> dict[str, str]:
    """The agent sends (approved by a human); the headers the delivery left with."""
    before = {email_id for email_id, _ in deliveries(sandbox)}
    agent = session.assistant("send", SCRIPTS["send"])
    with Reviewer(sandbox):
        session.run(session.dispatcher("send", profile="agent"), agent, "Send the numbers.")
    [email_id] = [email_id for email_id, _ in deliveries(sandbox) if email_id not in before]
    [entry] = [e for e in sandbox.multimail.sent() if e["email_id"] == email_id]
    headers: dict[str, str] = entry["headers"]
    return headers


def test_ai_disclosure_set_by_an_admin_assistant_reaches_the_wire(
    sandbox: Sandbox, session: Session
) -> None:
    configure(session, "disclosure-off", disclose=False)
    assert "X-AI-Generated" not in next_delivery_headers(sandbox, session)
    configure(session, "disclosure-on", disclose=True)
    assert next_delivery_headers(sandbox, session)["X-AI-Generated"] == "true"
