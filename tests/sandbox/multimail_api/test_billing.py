"""Billing of a sandbox tenant: checkout, the portal, cancelling with the operator's code."""

from __future__ import annotations

import httpx
import pytest

from tests.sandbox.multimail_api.conftest import Sandbox


def _subscribe(sandbox: Sandbox, admin: httpx.Client, plan: str = "scale") -> None:
    started = admin.post("/v1/billing/checkout", json={"plan": plan, "interval": "monthly"})
    assert started.status_code == 200
    url = started.json()["checkout_url"]
    assert url.startswith("http://testserver/sandbox/billing/checkout/")
    paid = sandbox.client().post(url)
    assert paid.json()["status"] == "complete"


def test_the_session_id_does_not_rebuild_the_checkout_link(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    """A client withholds ``checkout_url`` (whoever holds it pays) and shows ``session_id``."""
    started = admin.post("/v1/billing/checkout", json={"plan": "scale"}).json()
    session_id, url = started["session_id"], started["checkout_url"]
    assert session_id not in url
    by_id = sandbox.client().post(f"/sandbox/billing/checkout/{session_id}")
    assert by_id.status_code == 404
    assert admin.get("/v1/account").json()["plan"] == "pro"
    assert sandbox.client().post(url).json()["session_id"] == session_id
    assert admin.get("/v1/account").json()["plan"] == "scale"


def test_the_control_completes_a_checkout_by_its_session_id(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    started = admin.post("/v1/billing/checkout", json={"plan": "builder"}).json()
    done = sandbox.control.complete_checkout(started["session_id"])
    assert (done["status"], done["plan"]) == ("complete", "builder")
    assert admin.get("/v1/account").json()["plan"] == "builder"
    link = started["checkout_url"].rsplit("/", 1)[1]
    with pytest.raises(ValueError, match="Checkout session"):
        sandbox.control.complete_checkout(link)  # the link's token is no session id


def test_a_completed_checkout_changes_the_plan(sandbox: Sandbox, admin: httpx.Client) -> None:
    assert admin.get("/v1/account").json()["plan"] == "pro"
    _subscribe(sandbox, admin)
    assert admin.get("/v1/account").json()["plan"] == "scale"
    billing = sandbox.control.billing()
    assert billing["subscription"]["interval"] == "monthly"
    assert billing["customer"].startswith("cus_")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"plan": "enterprise"}, id="plan"),
        pytest.param({"plan": "pro", "interval": "weekly"}, id="interval"),
        pytest.param({}, id="missing"),
    ],
)
def test_checkout_refuses_unknown_plans(admin: httpx.Client, body: dict[str, str]) -> None:
    assert admin.post("/v1/billing/checkout", json=body).status_code == 400


def test_the_portal_needs_a_customer(sandbox: Sandbox, admin: httpx.Client) -> None:
    refused = admin.post("/v1/billing/portal", json={})
    assert (refused.status_code, refused.json()) == (400, {"error": "No Stripe customer on file"})
    _subscribe(sandbox, admin, "builder")
    url = admin.post("/v1/billing/portal", json={}).json()["portal_url"]
    assert url.startswith("http://testserver/sandbox/billing/portal/")
    shown = sandbox.client().get(url).json()
    assert (shown["plan"], shown["subscription"]["plan"]) == ("builder", "builder")


def test_cancel_needs_a_subscription_and_the_operators_code(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    none = admin.post("/v1/billing/cancel", json={})
    assert (none.status_code, none.json()["error"]) == (400, "No active subscription")
    assert sandbox.control.codes("cancel_subscription") == []  # no code for nothing
    _subscribe(sandbox, admin)
    first = admin.post("/v1/billing/cancel", json={})
    assert first.status_code == 202
    codes = sandbox.control.codes("cancel_subscription")
    assert len(codes) == 1
    assert admin.post("/v1/billing/cancel", json={"approval_code": "XXX-XXX"}).status_code == 403
    done = admin.post("/v1/billing/cancel", json={"approval_code": codes[0]["id"]})
    answer = done.json()
    assert (answer["status"], answer["cancel_at_period_end"]) == ("cancelling", True)
    assert answer["access_until"] == sandbox.control.billing()["subscription"]["current_period_end"]
    assert admin.post("/v1/billing/cancel", json={}).json() == answer  # idempotent, no code
    assert admin.get("/v1/account").json()["plan"] == "scale"  # until the period ends
    sandbox.advance(31 * 86_400)
    assert sandbox.control.billing()["plan"] == "starter"
    assert admin.post("/v1/billing/cancel", json={}).status_code == 400


@pytest.mark.parametrize(
    "route", ["/v1/billing/checkout", "/v1/billing/portal", "/v1/billing/cancel"]
)
def test_billing_needs_the_admin_scope(sandbox: Sandbox, route: str) -> None:
    answer = sandbox.client("send").post(route, json={"plan": "pro"})
    assert answer.status_code == 403


def test_tenants_bill_apart(sandbox: Sandbox, admin: httpx.Client) -> None:
    _subscribe(sandbox, admin)
    assert sandbox.control.billing(sandbox.seed.second_tenant_id)["plan"] == "pro"
    assert sandbox.client().get("/sandbox/billing/checkout/cs_nope").status_code == 404
    with pytest.raises(ValueError, match="Checkout session"):
        sandbox.control.complete_checkout("cs_nope")
