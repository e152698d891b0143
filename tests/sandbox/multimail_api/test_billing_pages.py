"""The billing links as a person sees them: a checkout page whose form pays (opening it
pays nothing), the portal page, and the same content as JSON for any other client."""

from __future__ import annotations

import httpx
import pytest

from mm_assistants.sandbox.multimail_api.billing_pages import portal_page, wants_html
from tests.sandbox.multimail_api.conftest import Sandbox

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _checkout(admin: httpx.Client, plan: str = "scale") -> str:
    url: str = admin.post("/v1/billing/checkout", json={"plan": plan}).json()["checkout_url"]
    return url


def test_opening_a_checkout_link_pays_nothing(sandbox: Sandbox, admin: httpx.Client) -> None:
    url = _checkout(admin)
    public = sandbox.client()
    page = public.get(url, headers=BROWSER)
    assert "<button" in page.text
    assert "scale plan, billed monthly" in page.text
    assert public.get(url).json() | {"session_id": None} == {
        "session_id": None,
        "status": "open",
        "plan": "scale",
        "interval": "monthly",
    }
    assert admin.get("/v1/account").json()["plan"] == "pro"  # still the comped plan
    form = {**BROWSER, "Content-Type": "application/x-www-form-urlencoded"}
    paid = public.post(url, headers=form, content=b"")
    assert (paid.status_code, paid.headers["content-type"][:9]) == (200, "text/html")
    assert admin.get("/v1/account").json()["plan"] == "scale"
    again = public.get(url, headers=BROWSER)
    assert "Paid" in again.text
    assert "<form" not in again.text  # nothing left to pay
    assert public.get(url).json()["status"] == "complete"


def test_the_pages_forbid_scripts_framing_and_referrers(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    page = sandbox.client().get(_checkout(admin), headers=BROWSER)
    assert "<script" not in page.text
    headers = page.headers
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert "form-action 'self'" in headers["content-security-policy"]
    assert (headers["x-frame-options"], headers["referrer-policy"]) == ("DENY", "no-referrer")
    assert headers["cache-control"] == "no-store"


def test_the_portal_page_shows_the_billing(sandbox: Sandbox, admin: httpx.Client) -> None:
    sandbox.client().post(_checkout(admin, "builder"))
    url = admin.post("/v1/billing/portal", json={}).json()["portal_url"]
    page = sandbox.client().get(url, headers=BROWSER)
    assert page.status_code == 200
    assert "<th>Plan</th><td>builder</td>" in page.text
    assert "(renews)" in page.text
    customer = sandbox.control.billing()["customer"]
    assert f"<td>{customer}</td>" in page.text
    assert sandbox.client().get(url).json()["customer"] == customer


def test_page_values_are_escaped() -> None:
    view = {"plan": "<b>pro</b>", "customer": "cus_&", "subscription": None}
    page = portal_page(view)
    assert "<b>" not in page
    assert "&lt;b&gt;pro&lt;/b&gt;" in page
    assert "cus_&amp;" in page


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        pytest.param("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", True, id="browser"),
        pytest.param("TEXT/HTML; q=1", True, id="case-and-params"),
        pytest.param("*/*", False, id="httpx"),
        pytest.param("application/json", False, id="json"),
        pytest.param(None, False, id="none"),
        pytest.param("text/htmlx", False, id="not-html"),
    ],
)
def test_a_page_is_for_whoever_asks_for_html(accept: str | None, html: bool) -> None:
    assert wants_html(accept) is html
