"""Run MultiMail's own MCP server (a published version) against a fresh sandbox: every tool.

`run_mcp` builds the server (cached), starts a sandbox on loopback, starts the server over
stdio with the sandbox's admin key, URL and mailbox, and runs the step of each tool the
server lists (`STEPS`, in order). A listed tool without a step fails ("no step"), so a new
server version cannot add a tool the suite silently ignores.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Collection

from conformance import mcp_flows as mail
from conformance import mcp_flows_admin as admin
from conformance.fixtures import sandbox_with_mail
from conformance.mcp_flows import StepFailed, World
from conformance.mcp_stdio import McpServer, build_version, missing
from conformance.report import Result

#: Tool name -> its step, in the order they run (destructive last).
STEPS: dict[str, Callable[[World], None]] = {
    step.__name__: step
    for step in (
        mail.request_challenge, mail.create_account, mail.resend_confirmation,
        mail.activate_account, mail.list_mailboxes, mail.check_inbox, mail.read_email,
        mail.download_attachment, mail.get_thread, mail.tag_email, mail.reply_email,
        mail.send_email, mail.list_pending, mail.decide_email, mail.cancel_message,
        mail.schedule_email, mail.edit_scheduled_email, mail.wait_for_email, mail.list_spam,
        mail.not_spam, mail.report_spam, admin.get_account, admin.update_account,
        admin.get_usage, admin.get_audit_log, admin.create_mailbox, admin.update_mailbox,
        admin.configure_mailbox, admin.request_upgrade, admin.apply_upgrade,
        admin.delete_mailbox, admin.add_contact, admin.search_contacts, admin.delete_contact,
        admin.check_suppression, admin.remove_suppression, admin.list_api_keys,
        admin.create_api_key, admin.revoke_api_key, admin.create_webhook, admin.list_webhooks,
        admin.delete_webhook, admin.get_billing_portal, admin.upgrade_plan,
        admin.cancel_subscription, admin.delete_account,
    )
}  # fmt: skip


def client_name() -> str:
    """The report's client column for MultiMail's MCP server."""
    return "multimail-mcp-server"


def run_mcp(version: str, only: Collection[str] | None = None) -> list[Result]:
    """Every tool of server ``version`` (or those in ``only``) against a fresh sandbox.

    A machine without node/npm or the published sources gets one skipped result saying why.
    """
    why = missing(version)
    if why is not None:
        return [Result(client_name(), version, "(all tools)", False, why, skipped=True)]
    try:
        entry = build_version(version)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        # npm install needs npm's registry: offline, the server cannot be built at all
        why = f"the build failed (npm install needs npm's registry): {exc}"
        return [Result(client_name(), version, "(all tools)", False, why, skipped=True)]
    with sandbox_with_mail() as (sandbox, email):
        env = {
            "MULTIMAIL_API_KEY": sandbox.keys["admin"],
            "MULTIMAIL_API_URL": sandbox.multimail_url,
            "MULTIMAIL_MAILBOX_ID": sandbox.mailbox_id,
        }
        with McpServer(entry, env) as server:
            listed = [tool["name"] for tool in server.list_tools()]
            world = World(server, sandbox.multimail, sandbox.mailbox_id, listed)
            world.inbound = email
            chosen = [name for name in listed if only is None or name in only]
            ordered = [n for n in STEPS if n in chosen] + [n for n in chosen if n not in STEPS]
            return [_run_step(world, version, name) for name in ordered]


def _run_step(world: World, version: str, name: str) -> Result:
    step = STEPS.get(name)
    if step is None:
        return Result(client_name(), version, name, False, "no step for this tool")
    started = time.monotonic()
    try:
        step(world)
    except StepFailed as exc:
        return Result(client_name(), version, name, False, str(exc), seconds=_since(started))
    except Exception as exc:  # noqa: BLE001 -- a step's crash is that tool's verdict, not the run's
        reason = f"{type(exc).__name__}: {exc}"
        return Result(client_name(), version, name, False, reason, seconds=_since(started))
    return Result(client_name(), version, name, True, seconds=_since(started))


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
