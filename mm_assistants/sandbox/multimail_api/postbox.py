"""The `Postbox`: every change to emails, stored atomically, with its webhook events.

Handlers and sandbox controls call it; the rules themselves are the pure functions of
`lifecycle`. Each operation runs in one transaction (so an email and its idempotency
record are stored together or not at all) and emits its events only after the commit.
Emails whose status the clock will change have a ``timers`` row; `sweep` settles the due
ones and runs before every request, so each change and its events happen exactly once.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api import lifecycle
from mm_assistants.sandbox.multimail_api.drafts import Attachment, Draft
from mm_assistants.sandbox.multimail_api.errors import conflict, forbidden, too_many, unprocessable
from mm_assistants.sandbox.multimail_api.events import EventSink, event_data, matching
from mm_assistants.sandbox.multimail_api.formats import month_start, new_id
from mm_assistants.sandbox.multimail_api.ledger import audit, count, totals, usage_days
from mm_assistants.sandbox.multimail_api.messages import base_email, outbound_email, wire_message
from mm_assistants.sandbox.multimail_api.settings import MultiMailSandboxSettings
from mm_assistants.sandbox.multimail_api.store import Store

logger = logging.getLogger(__name__)

Fired = list[tuple[Doc, tuple[str, ...], dict[str, Any]]]


class Postbox:
    """Sends, replies, receives, settles, decides, cancels and reschedules emails."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float],
        settings: MultiMailSandboxSettings,
        sink: EventSink,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.sink = sink

    # -- the clock ----------------------------------------------------------------------

    def sweep(self) -> int:
        """Settle every email whose timer is due; how many changed."""
        now = self.clock()
        fired: Fired = []
        with self.store.transaction():
            for timer in self.store.children("timers"):
                if timer["due_at"] > now:
                    continue
                email = self.store.get("emails", timer["id"])
                if email is None:
                    self.store.delete("timers", timer["id"], cascade=False)
                    continue
                change = lifecycle.settle(email, now)
                self._store(change)
                fired.append((change.email, change.events, {}))
        self._emit(fired)
        return len(fired)

    # -- outbound -----------------------------------------------------------------------

    def send(self, mailbox: Doc, draft: Draft, actor: str) -> tuple[int, Doc]:
        """``POST mb/send``: (status code, answer)."""
        return self._compose(mailbox, draft, actor, original=None)

    def reply(self, mailbox: Doc, original: Doc, draft: Draft, actor: str) -> tuple[int, Doc]:
        """``POST mb/reply/{id}``: (status code, answer); 409 on a duplicate within 60 s."""
        return self._compose(mailbox, draft, actor, original=original)

    def _compose(
        self, mailbox: Doc, draft: Draft, actor: str, original: Doc | None
    ) -> tuple[int, Doc]:
        tenant_id, now = mailbox["tenant_id"], self.clock()
        if mailbox["oversight_mode"] == "read_only":
            raise forbidden("Mailbox is in read_only mode: sending and replying are disabled")
        with self.store.transaction():
            repeat = self._idempotent_repeat(mailbox, draft, now)
            if repeat is not None:
                return 200, {"id": repeat, "status": "already_sent", "idempotent": True}
            digest = hashlib.sha256(draft.markdown.encode()).hexdigest()
            if original is not None and self._duplicate_reply(mailbox, original, digest, now):
                raise conflict("Duplicate reply detected (same content within 60s)")
            self._check_quota(tenant_id, now)
            email = outbound_email(mailbox, draft, original, digest, now, self.settings.scan_delay)
            self._check_suppressed(tenant_id, [*email["to"], *email["cc"], *email["bcc"]])
            self._save(email, draft.attachments)
            if draft.idempotency_key:
                key_id = f"{mailbox['id']}:{draft.idempotency_key}"
                record = {"id": key_id, "email_id": email["id"], "at": now}
                self.store.put("idempotency", record, parent=mailbox["id"])
            count(self.store, tenant_id, "emails_sent", now)
            action = "email.replied" if original else "email.sent"
            audit(self.store, tenant_id, actor, action, "email", email["id"], now)
        return 202, {"id": email["id"], "status": email["status"], "thread_id": email["thread_id"]}

    def _idempotent_repeat(self, mailbox: Doc, draft: Draft, now: float) -> str | None:
        if not draft.idempotency_key:
            return None
        record = self.store.get("idempotency", f"{mailbox['id']}:{draft.idempotency_key}")
        if record is None or now - record["at"] >= self.settings.idempotency_window:
            return None
        email_id: str = record["email_id"]
        return email_id

    def _duplicate_reply(self, mailbox: Doc, original: Doc, digest: str, now: float) -> bool:
        window = self.settings.reply_dedupe_window
        return any(
            e.get("_reply_to") == original["id"]
            and e.get("_digest") == digest
            and now - e["_created"] < window
            for e in self.store.children("emails", mailbox["id"])
        )

    def _check_quota(self, tenant_id: str, now: float) -> None:
        sent = totals(usage_days(self.store, tenant_id, month_start(now), now))["emails_sent"]
        if sent >= self.settings.monthly_email_quota:
            raise too_many("Monthly email quota exceeded; upgrade your plan", retry_after=3600)

    def _check_suppressed(self, tenant_id: str, recipients: list[str]) -> None:
        suppressed = {s["email_address"] for s in self.store.children("suppressions", tenant_id)}
        for address in recipients:
            if address in suppressed:
                raise unprocessable(
                    f"Recipient {address} is on the suppression list; remove it first "
                    "with DELETE /v1/suppression/{address}"
                )

    # -- inbound ------------------------------------------------------------------------

    def receive(
        self, mailbox: Doc, fields: Mapping[str, Any], attachments: tuple[Attachment, ...]
    ) -> Doc:
        """Store an inbound email (``fields``: from, subject, markdown, spam and auth
        verdicts, ``in_reply_to``) as the mailbox's mode and the spam verdict decide."""
        now = self.clock()
        status, events = lifecycle.inbound_status(
            mailbox["oversight_mode"], fields.get("spam_verdict")
        )
        with self.store.transaction():
            email = base_email(
                mailbox,
                "inbound",
                fields["from"],
                [mailbox["address"]],
                fields["subject"],
                fields["markdown"],
                now,
            )
            parent = self._find_parent(mailbox["id"], fields.get("in_reply_to"))
            email.update(
                thread_id=new_id("thr_") if parent is None else parent["thread_id"],
                status=status,
                in_reply_to=None if parent is None else parent["id"],
                spam_score=fields.get("spam_score"),
                spam_verdict=fields.get("spam_verdict") or "clean",
            )
            # Like the spam verdict, authentication passes unless a test says otherwise (the
            # library's trust gate holds mail without results); "" means "not reported".
            for verdict in ("dkim", "spf", "dmarc"):
                value = fields.get(verdict)
                if value is None:
                    value = "pass"
                if value:
                    email[verdict] = value
            self._save(email, attachments)
            count(self.store, mailbox["tenant_id"], "emails_received", now)
        # The verdicts ride along in message.received, so a receiver's trust gate need not
        # read the email first (a receiver must still cope when they are missing).
        verdicts = ("spam_verdict", "spam_score", "dkim", "spf", "dmarc")
        extra = {name: email[name] for name in verdicts if email.get(name) is not None}
        self._emit([(email, events, extra)])
        return email

    def _find_parent(self, mailbox_id: str, reference: Any) -> Doc | None:
        if not isinstance(reference, str) or not reference:
            return None
        for email in self.store.children("emails", mailbox_id):
            if reference in (email["id"], email["message_id"]):
                return email
        return None

    # -- decisions ----------------------------------------------------------------------

    def decide(
        self, email: Doc, action: str, reason: str | None, decided_by: str, actor: str
    ) -> str:
        """Approve or reject a held email; the decide call's ``status`` (409 if not held)."""
        now = self.clock()
        with self.store.transaction():
            try:
                change, answer = lifecycle.decide(
                    self._current(email), action, now, decided_by, reason
                )
            except lifecycle.Refused as exc:
                raise conflict(str(exc)) from exc
            self._store(change)
            count(self.store, email["_tenant"], "oversight_actions", now)
            metadata = {"reason": reason} if reason else None
            self._audit(email, actor, f"oversight.{action}", now, metadata)
        self._emit([(change.email, change.events, {"decided_by": decided_by, "reason": reason})])
        return answer

    def cancel(self, email: Doc, actor: str) -> Doc:
        """Cancel an email nobody approved or sent yet; 409 otherwise."""
        now = self.clock()
        with self.store.transaction():
            current = self._current(email)
            try:
                change = lifecycle.cancel(current, now)
            except lifecycle.Refused as exc:
                raise conflict(str(exc)) from exc
            if change.email != current:  # cancelling twice changes nothing
                self._store(change)
                self._audit(email, actor, "email.cancelled", now)
        return {"id": email["id"], "status": "cancelled"}

    def reschedule(
        self, email: Doc, fields: Mapping[str, Any], send_at: float | None, actor: str
    ) -> Doc:
        """Edit a scheduled email; 409 unless it is scheduled and not yet approved."""
        with self.store.transaction():
            try:
                edited = lifecycle.edit_schedule(self._current(email), fields, send_at)
            except lifecycle.Refused as exc:
                raise conflict(str(exc)) from exc
            self._store(lifecycle.Change(edited))
            changed = sorted({*fields, *(["send_at"] if send_at else [])})
            self._audit(email, actor, "email.schedule_updated", self.clock(), {"fields": changed})
        return edited

    # -- storage and events -------------------------------------------------------------

    def _save(self, email: Doc, attachments: tuple[Attachment, ...] = ()) -> None:
        if attachments:  # the email lists what the blobs below hold
            email["has_attachments"] = True
            email["attachments"] = [
                {"name": a.name, "size": len(a.data), "content_type": a.content_type}
                for a in attachments
            ]
        self.store.put("emails", email, parent=email["mailbox_id"])
        for item in attachments:
            blob = {
                "id": f"{email['id']}/{item.name}",
                "name": item.name,
                "content_type": item.content_type,
                "content_base64": base64.b64encode(item.data).decode(),
            }
            self.store.put("blobs", blob, parent=email["id"])
        due = lifecycle.next_due(email)
        if due is None:
            # a timer shares its email's id: a cascade would take the email's blobs along
            self.store.delete("timers", email["id"], cascade=False)
        else:
            self.store.put("timers", {"id": email["id"], "due_at": due})

    def _current(self, email: Doc) -> Doc:
        # read again inside the transaction: a concurrent decision may have come first
        return self.store.get("emails", email["id"]) or email

    def _store(self, change: lifecycle.Change) -> None:
        self._save(change.email)
        if "message.sent" in change.events:
            self._record_wire(change.email)

    def _audit(
        self,
        email: Doc,
        actor: str,
        action: str,
        now: float,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        audit(self.store, email["_tenant"], actor, action, "email", email["id"], now, metadata)

    def _emit(self, fired: Fired) -> None:
        """Hand events to the sink after their change is committed; a failing sink is
        logged, never turned into a failed API call (the change has happened)."""
        for email, events, extra in fired:
            tenant_id = email["_tenant"]
            subscriptions = self.store.children("webhooks", tenant_id)
            for event in events:
                try:
                    self.sink.emit(
                        tenant_id=tenant_id,
                        event=event,
                        data=event_data(email, **extra),
                        subscriptions=matching(subscriptions, event, email["mailbox_id"]),
                    )
                except Exception:
                    logger.exception("the event sink failed on %s for %s", event, email["id"])

    def _record_wire(self, email: Doc) -> None:
        """Note what left the sandbox (for ``GET /sandbox/sent``): the delivery, and the
        operator's copy in ``monitored`` mode, each with the headers and body it left with."""
        copies: list[tuple[str, list[str]]] = [
            ("delivery", [*email["to"], *email["cc"], *email["bcc"]])
        ]
        tenant = self.store.get("tenants", email["_tenant"]) or {}
        if email.get("_operator_copy"):
            copies.append(("operator_copy", [tenant.get("oversight_email", "")]))
        headers, body = wire_message(email, str(tenant.get("name", "")), self.store.secret())
        for kind, recipients in copies:
            entry = {
                "id": new_id("out_"),
                "kind": kind,
                "email_id": email["id"],
                "mailbox_id": email["mailbox_id"],
                "from": email["from"],
                "recipients": recipients,
                "subject": email["subject"],
                "headers": headers,
                "body": body,
                "at": email["delivered_at"],
            }
            self.store.put("wire", entry)
