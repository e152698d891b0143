"""Reading mail: inbox filters and paging, read marks, threads, tags, attachments."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.sandbox.multimail_api.conftest import Sandbox, send_body

PDF = b"%PDF-1.4 tiny"


def inject(sandbox: Sandbox, n: int) -> list[str]:
    ids = []
    for i in range(n):
        email = sandbox.control.inject_inbound(
            sender=f"user{i % 2}@example.com", subject=f"Invoice {i}", markdown=f"Body {i}"
        )
        ids.append(email["id"])
        sandbox.advance(60)
    return ids


def listed(reader: httpx.Client, sandbox: Sandbox, **query: str | int) -> list[str]:
    answer = reader.get(f"{sandbox.mb}/emails", params=query)
    assert answer.status_code == 200, answer.text
    return [e["id"] for e in answer.json()["emails"]]


def test_the_inbox_lists_summaries_newest_first(sandbox: Sandbox, reader: httpx.Client) -> None:
    ids = inject(sandbox, 3)
    answer = reader.get(f"{sandbox.mb}/emails").json()
    assert [e["id"] for e in answer["emails"]] == ids[::-1]
    assert answer["cursor"] is None
    assert "markdown" not in answer["emails"][0]
    assert answer["emails"][0]["status"] == "unread"


def test_cursor_paging_visits_every_email_once(sandbox: Sandbox, reader: httpx.Client) -> None:
    ids = inject(sandbox, 5)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = reader.get(f"{sandbox.mb}/emails", params=params).json()
        seen.extend(e["id"] for e in page["emails"])
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


@pytest.mark.parametrize(
    ("query", "picked"),
    [
        pytest.param({"sender": "USER1@example.com"}, [3, 1], id="sender"),
        pytest.param({"subject_contains": "invoice 2"}, [2], id="subject"),
        pytest.param({"status": "unread"}, [3, 2, 1, 0], id="status"),
        pytest.param({"direction": "outbound"}, [], id="direction"),
        pytest.param({"date_after": "2027-01-15T08:01:30Z"}, [3, 2], id="date_after"),
        pytest.param({"date_before": "2027-01-15T08:01:30Z"}, [1, 0], id="date_before"),
        pytest.param({"has_attachments": "false"}, [3, 2, 1, 0], id="no-attachments"),
        pytest.param({"has_attachments": "true"}, [], id="attachments"),
        pytest.param({"limit": 1}, [3], id="limit"),
    ],
)
def test_inbox_filters(
    sandbox: Sandbox, reader: httpx.Client, query: dict[str, str | int], picked: list[int]
) -> None:
    ids = inject(sandbox, 4)
    assert listed(reader, sandbox, **query) == [ids[i] for i in picked]


def test_since_id_keeps_newer_emails(sandbox: Sandbox, reader: httpx.Client) -> None:
    ids = inject(sandbox, 3)
    assert listed(reader, sandbox, since_id=ids[0]) == [ids[2], ids[1]]
    assert listed(reader, sandbox, since_id=ids[2]) == []


@pytest.mark.parametrize(
    "query",
    [
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": 101}, id="limit-101"),
        pytest.param({"limit": "x"}, id="limit-text"),
        pytest.param({"status": "sent"}, id="status"),
        pytest.param({"direction": "up"}, id="direction"),
        pytest.param({"has_attachments": "yes"}, id="has_attachments"),
        pytest.param({"date_after": "yesterday"}, id="date"),
        pytest.param({"cursor": "em_unknown"}, id="cursor"),
    ],
)
def test_bad_inbox_queries_are_400(
    sandbox: Sandbox, reader: httpx.Client, query: dict[str, str | int]
) -> None:
    answer = reader.get(f"{sandbox.mb}/emails", params=query)
    assert answer.status_code == 400
    assert set(answer.json()) == {"error"}


def test_reading_an_email_shows_everything_and_marks_it_read(
    sandbox: Sandbox, reader: httpx.Client
) -> None:
    email = sandbox.control.inject_inbound(
        sender="ann@example.com",
        subject="Report",
        markdown="See attached",
        attachments=[
            {
                "name": "r.pdf",
                "content_base64": base64.b64encode(PDF).decode(),
                "content_type": "application/pdf",
            }
        ],
        spam_verdict="clean",
        spam_score=1,
        dkim="pass",
        spf="pass",
        dmarc="fail",
    )
    shown = reader.get(f"{sandbox.mb}/emails/{email['id']}").json()
    assert shown["markdown"] == "See attached"
    assert shown["attachments"] == [
        {"name": "r.pdf", "size": len(PDF), "content_type": "application/pdf"}
    ]
    assert (shown["spam_verdict"], shown["spam_score"]) == ("clean", 1)
    assert (shown["dkim"], shown["spf"], shown["dmarc"]) == ("pass", "pass", "fail")
    assert shown["status"] == "read"
    assert shown["tags"] == {}
    assert not any(key.startswith("_") for key in shown)
    assert listed(reader, sandbox, has_attachments="true") == [email["id"]]


def test_attachments_come_as_a_url_then_bytes(sandbox: Sandbox, reader: httpx.Client) -> None:
    email = sandbox.control.inject_inbound(
        sender="ann@example.com",
        subject="Report",
        markdown="x",
        attachments=[
            {
                "name": "r.pdf",
                "content_base64": base64.b64encode(PDF).decode(),
                "content_type": "application/pdf",
            }
        ],
    )
    base = f"{sandbox.mb}/emails/{email['id']}/attachments"
    link = reader.get(f"{base}/r.pdf/url").json()
    assert (link["expires_in"], link["size_bytes"]) == (3600, len(PDF))
    assert (link["filename"], link["content_type"]) == ("r.pdf", "application/pdf")
    assert reader.get(f"{base}/r.pdf").content == PDF
    # the signed link needs no key, as MultiMail's presigned links do
    file = sandbox.client().get(link["url"])
    assert file.content == PDF
    assert file.headers["content-type"] == "application/pdf"
    assert reader.get(f"{base}/nope.pdf/url").json() == {"error": "Attachment not found"}
    assert sandbox.client().get(f"{base}/r.pdf").status_code == 401


def test_threads_follow_replies_and_in_reply_to(
    sandbox: Sandbox, reader: httpx.Client, sender: httpx.Client
) -> None:
    first = sandbox.control.inject_inbound(sender="ann@example.com", subject="Q", markdown="?")
    reply = sender.post(f"{sandbox.mb}/reply/{first['id']}", json={"markdown": "A"}).json()
    assert reply["thread_id"] == first["thread_id"]
    thread_url = f"{sandbox.mb}/threads/{first['thread_id']}"
    assert reader.get(thread_url).json()["has_unanswered_inbound"] is False
    follow = sandbox.control.inject_inbound(
        sender="ann@example.com", subject="Re: Q", markdown="more?", in_reply_to=reply["id"]
    )
    other = sandbox.control.inject_inbound(sender="carl@example.com", subject="New", markdown="")
    assert follow["thread_id"] == first["thread_id"]
    assert other["thread_id"] != first["thread_id"]
    thread = reader.get(thread_url).json()
    assert thread["message_count"] == 3
    assert [e["id"] for e in thread["emails"]] == [first["id"], reply["id"], follow["id"]]
    assert thread["participants"] == ["ann@example.com", sandbox.seed.address]
    assert thread["has_unanswered_inbound"] is True
    replied = reader.get(f"{sandbox.mb}/emails/{reply['id']}").json()
    assert (replied["subject"], replied["to"]) == ("Re: Q", ["ann@example.com"])
    assert reader.get(f"{sandbox.mb}/threads/thr_nope").status_code == 404


def test_tags_merge_read_and_delete(
    sandbox: Sandbox, reader: httpx.Client, sender: httpx.Client
) -> None:
    email = sandbox.control.inject_inbound(sender="ann@example.com", subject="Q", markdown="?")
    url = f"{sandbox.mb}/emails/{email['id']}/tags"
    assert sender.put(url, json={"tags": {"a": "1"}}).json() == {"tags": {"a": "1"}}
    assert sender.put(url, json={"tags": {"b": "2"}}).json() == {"tags": {"a": "1", "b": "2"}}
    assert reader.get(url).json() == {"tags": {"a": "1", "b": "2"}}
    assert sender.delete(f"{url}/a").json() == {"deleted": True}
    assert sender.delete(f"{url}/a").json() == {"deleted": True}
    assert reader.get(url).json() == {"tags": {"b": "2"}}
    assert sender.put(url, json={"tags": {"n": 1}}).status_code == 400
    assert reader.put(url, json={"tags": {"x": "y"}}).status_code == 403


def test_outbound_mail_is_listed_by_direction(
    sandbox: Sandbox, reader: httpx.Client, sender: httpx.Client
) -> None:
    sent = sender.post(f"{sandbox.mb}/send", json=send_body(cc=["cc@example.com"])).json()
    sandbox.advance(1)
    assert listed(reader, sandbox, direction="outbound") == [sent["id"]]
    assert listed(reader, sandbox, status="pending_send_approval") == [sent["id"]]
