"""The review page in headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
which ``make test`` installs when it can): a person approves a send that a waiting run
holds, and the run goes on.

Selenium is given the driver's path, so Selenium Manager never runs (it would download
one); the browser only ever loads the sandbox on loopback.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import Dispatcher
from mm_assistants.drivers import AssistantsRunDriver, RunOutcome
from mm_assistants.multimail import MultiMailClient
from mm_assistants.openai_setup import create_assistant
from mm_assistants.sandbox import Sandbox
from tests.e2e.conftest import wait_until_held
from tests.quiet import quiet_assistants
from tests.review.conftest import hold, status_of

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LOOK = 10.0  # seconds the browser may take to show a change (the page looks every 1.5 s)
HOSTILE = '<img src=x onerror="window.pwned=1">Can we meet?'
QUIET = (  # no traffic of the browser's own: it loads the sandbox and nothing else
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        pytest.skip(
            f"headless Chromium is not installed ({', '.join(missing)} missing); "
            "`make test` installs Debian's chromium and chromium-driver when run as root "
            "with the Debian mirror reachable (its `make browser` step printed why not)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # Chromium's sandbox refuses to run as root, as CI does
        "--disable-dev-shm-usage",
        "--window-size=1100,900",
        f"--user-data-dir={tmp_path / 'profile'}",
        *QUIET,
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(autouse=True)
def quiet_assistants_warnings() -> Iterator[None]:
    # the sandbox serves the deprecated Assistants API on purpose
    with quiet_assistants():
        yield


class WaitingRun:
    """An Assistants run of the emulator's ``email-assistant`` in a thread: it answers the
    newest email, and its reply waits for a human's approval."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.outcome: RunOutcome | None = None
        self.error: BaseException | None = None
        self._sandbox = sandbox
        self._thread = threading.Thread(target=self._work, name="review-run", daemon=True)

    def _work(self) -> None:
        sandbox = self._sandbox
        try:
            with (
                openai.OpenAI(
                    api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0
                ) as client,
                MultiMailClient(api_key=sandbox.keys["send"], base_url=sandbox.multimail_url) as mm,
            ):
                assistant = create_assistant(
                    client, model="sandbox-email-assistant", mailbox_id=sandbox.mailbox_id
                )
                policy = ApprovalPolicy(max_wait=60, margin=1, first_delay=0.05, max_interval=0.2)
                dispatcher = Dispatcher(mm, mailbox_id=sandbox.mailbox_id, audit=None)
                driver = AssistantsRunDriver(client, dispatcher, approvals=policy)
                self.outcome = driver.create_thread_and_run(assistant.id, ["Answer my inbox."])
        except BaseException as exc:  # noqa: BLE001 -- surfaced by result()
            self.error = exc

    def start(self) -> WaitingRun:
        self._thread.start()
        return self

    def result(self, timeout: float = 30.0) -> RunOutcome:
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        assert self.outcome is not None, f"the run did not end within {timeout} s"
        return self.outcome


def card_of(browser: WebDriver, email_id: str) -> WebElement:
    """The page's card of ``email_id``, once the page shows it."""
    selector = f'article.email[data-id="{email_id}"]'
    cards = WebDriverWait(browser, LOOK).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, selector),
        message=f"the page never showed {email_id}",
    )
    card: WebElement = cards[0]
    return card


def wait_gone(browser: WebDriver, email_id: str) -> None:
    selector = f'article.email[data-id="{email_id}"]'
    WebDriverWait(browser, LOOK).until(
        lambda b: not b.find_elements(By.CSS_SELECTOR, selector),
        message=f"{email_id} stayed on the page",
    )


def test_a_person_approves_a_held_send_in_the_browser_and_the_run_goes_on(
    mm_sandbox: Sandbox, browser: WebDriver
) -> None:
    inbound = mm_sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject=HOSTILE, markdown="Thursday at 3?"
    )
    run = WaitingRun(mm_sandbox).start()
    held = wait_until_held(mm_sandbox)

    browser.get(f"{mm_sandbox.base_url}/review")
    card = card_of(browser, held["id"])
    assert browser.current_url.endswith("/review/")

    # the hostile subject is shown as text: no element made of it, no script run
    assert card.find_element(By.CSS_SELECTOR, ".subject").text == f"Re: {HOSTILE}"
    assert card.find_elements(By.TAG_NAME, "img") == []
    assert browser.execute_script("return window.pwned") is None
    assert card.find_element(By.CSS_SELECTOR, ".to").text == inbound["from"]
    assert "Thank you for your message." in card.find_element(By.CSS_SELECTOR, ".preview").text

    # beside the reply, the email it answers, framed as an outside sender's (untrusted)
    original = card.find_element(By.CSS_SELECTOR, ".original")
    assert original.is_displayed()
    assert "written by an outside sender" in original.text
    assert "untrusted" in original.text
    assert card.find_element(By.CSS_SELECTOR, ".original-from").text == "ana@customer.example"
    assert card.find_element(By.CSS_SELECTOR, ".original-subject").text == HOSTILE
    assert card.find_element(By.CSS_SELECTOR, ".original-preview").text == "Thursday at 3?"
    reply_box = card.find_element(By.CSS_SELECTOR, ".reply").rect
    assert original.rect["x"] > reply_box["x"] + reply_box["width"] / 2  # beside, not below
    assert original.find_elements(By.TAG_NAME, "img") == []

    # the sandbox says it is one
    banner = browser.find_element(By.ID, "sandbox-banner")
    assert banner.is_displayed()
    assert banner.text.startswith("Sandbox:")

    # Reject with no reason is stopped on the page: nothing is decided
    card.find_element(By.CSS_SELECTOR, ".reject").click()
    problem = card.find_element(By.CSS_SELECTOR, ".problem")
    WebDriverWait(browser, LOOK).until(lambda b: problem.is_displayed())
    assert "A reason is needed to reject" in problem.text
    assert status_of(mm_sandbox, held["id"]) == "pending_send_approval"

    card.find_element(By.CSS_SELECTOR, ".reason").send_keys("Friendly and correct.")
    card.find_element(By.CSS_SELECTOR, ".approve").click()
    wait_gone(browser, held["id"])
    log = browser.find_element(By.ID, "log").text
    assert f"Approved “Re: {HOSTILE}” ({held['id']}): approved_and_sent" in log

    outcome = run.result()
    assert outcome.status == "completed"
    [approval] = outcome.approvals
    assert (approval.email_id, approval.decision) == (held["id"], "approved")
    assert approval.approved_by is not None
    assert "the reply was approved and sent" in outcome.text


def test_the_page_follows_the_queue_as_it_changes_elsewhere(
    mm_sandbox: Sandbox, browser: WebDriver
) -> None:
    browser.get(f"{mm_sandbox.base_url}/review/")
    WebDriverWait(browser, LOOK).until(
        lambda b: b.find_element(By.ID, "empty").is_displayed(),
        message="the empty queue was never shown",
    )

    email_id = hold(mm_sandbox, subject="Held while the page was open")
    card = card_of(browser, email_id)  # no reload: the page looks again by itself
    card.find_element(By.CSS_SELECTOR, ".reason").send_keys("half-typed")
    other_id = hold(mm_sandbox, subject="A second one")
    card_of(browser, other_id)
    # a refresh keeps what the reviewer was typing
    assert card.find_element(By.CSS_SELECTOR, ".reason").get_attribute("value") == "half-typed"

    # a new email answers none: no original beside it
    assert not card.find_element(By.CSS_SELECTOR, ".original").is_displayed()
    # "checked" names its time zone (headless Chromium runs in the machine's, here UTC)
    checked = browser.find_element(By.ID, "status").text
    assert re.search(r"checked \d\d:\d\d:\d\d [A-Z][\w+:-]+$", checked), checked

    mm_sandbox.multimail.decide(email_id, "reject", "decided on another screen")
    wait_gone(browser, email_id)
    status = browser.find_element(By.ID, "status").text
    WebDriverWait(browser, LOOK).until(
        lambda b: b.find_element(By.ID, "status").text.startswith("1 email waits"),
        message=f"the status line stayed at {status!r}",
    )
    assert not browser.find_element(By.ID, "empty").is_displayed()
