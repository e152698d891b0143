"""Assistants, threads and messages through the real SDK; persistence across a restart."""

from __future__ import annotations

import openai
import pytest

from tests.sandbox.openai_api.support import Emulator, Start, function_tools


def test_assistant_crud(client: openai.OpenAI) -> None:
    created = client.beta.assistants.create(
        model="gpt-4o", name="Mail", instructions="Be brief.", tools=function_tools("check_inbox")
    )
    assert created.id.startswith("asst_")
    assert created.tools[0].type == "function"

    fetched = client.beta.assistants.retrieve(created.id)
    assert (fetched.name, fetched.instructions) == ("Mail", "Be brief.")

    updated = client.beta.assistants.update(created.id, name="Mail 2", metadata={"k": "v"})
    assert (updated.name, updated.metadata, updated.model) == ("Mail 2", {"k": "v"}, "gpt-4o")

    other = client.beta.assistants.create(model="gpt-4o")
    listed = client.beta.assistants.list(order="asc")
    assert [a.id for a in listed.data] == [created.id, other.id]

    deleted = client.beta.assistants.delete(created.id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.assistants.retrieve(created.id)
    assert caught.value.body == {
        "message": f"No assistant found with id '{created.id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_assistant_needs_a_model_and_valid_tool_names(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model=None)  # type: ignore[arg-type]
    assert caught.value.code == "missing_required_parameter"
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model="m", tools=function_tools("bad name!"))
    assert caught.value.param == "tools[0].function.name"


def test_list_pages_with_cursors(client: openai.OpenAI) -> None:
    ids = [client.beta.assistants.create(model="m").id for _ in range(5)]
    first = client.beta.assistants.list(limit=2, order="asc")
    assert [a.id for a in first.data] == ids[:2]
    assert first.has_more
    assert [a.id for a in first.get_next_page().data] == ids[2:4]
    assert [a.id for a in client.beta.assistants.list(order="asc")] == ids  # auto-paging
    newest = client.beta.assistants.list(limit=2)
    assert [a.id for a in newest.data] == [ids[4], ids[3]]
    before = client.beta.assistants.list(order="asc", before=ids[3], limit=2)
    assert [a.id for a in before.data] == ids[1:3]
    with pytest.raises(openai.BadRequestError):
        client.beta.assistants.list(limit=101)


def test_thread_with_messages(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "first"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ],
        metadata={"case": "1"},
    )
    assert client.beta.threads.retrieve(thread.id).metadata == {"case": "1"}
    client.beta.threads.messages.create(thread.id, role="user", content="third")
    texts = [
        m.content[0].text.value  # type: ignore[union-attr]
        for m in client.beta.threads.messages.list(thread.id, order="asc")
    ]
    assert texts == ["first", "second", "third"]
    newest = client.beta.threads.messages.list(thread.id, limit=1)
    assert newest.data[0].content[0].text.value == "third"  # type: ignore[union-attr]
    assert newest.has_more
    message = client.beta.threads.messages.retrieve(newest.data[0].id, thread_id=thread.id)
    assert message.role == "user"
    assert client.beta.threads.delete(thread.id).deleted
    with pytest.raises(openai.NotFoundError, match="No thread found"):
        client.beta.threads.retrieve(thread.id)


def test_unknown_route_answers_in_openai_shape(emulator: Emulator) -> None:
    answer = emulator.http().get("/nothing/here")
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == f"Invalid URL (GET {emulator.prefix}/nothing/here)"


def test_restart_keeps_objects(start_emulator: Start) -> None:
    first = start_emulator()
    client = first.client()
    assistant = client.beta.assistants.create(model="m", name="Kept")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])

    second = start_emulator(db_path=first.db_path)
    again = second.client()
    assert again.beta.assistants.retrieve(assistant.id).name == "Kept"
    assert len(again.beta.threads.messages.list(thread.id).data) == 1
