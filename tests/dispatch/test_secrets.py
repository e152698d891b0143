"""The API key never reaches the model, the audit trail or the logs, whatever the API says."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from mm_assistants.dispatch import AuditRecord
from tests.dispatch.conftest import KEY, Harness, call


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(
            httpx.Response(400, json={"error": f"bad key {KEY}", "hint": [KEY]}), id="400-echo"
        ),
        pytest.param(httpx.Response(500, text=f"<pre>Authorization: Bearer {KEY}</pre>"), id="500"),
        pytest.param(httpx.ConnectError(f"proxy refused {KEY}"), id="transport"),
    ],
)
def test_an_echoed_key_is_never_in_an_output_a_record_or_a_log(
    harness: Harness,
    api: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
    answer: httpx.Response | Exception,
) -> None:
    caplog.set_level(logging.DEBUG)
    records: list[AuditRecord] = []
    api.get("/v1/mailboxes/mbx_1/emails/em_1").mock(side_effect=[answer] * 3)
    result = harness.run(call("read_email", {"email_id": "em_1"}), audit=records.append)
    assert not result.ok
    assert KEY not in result.output
    assert KEY not in repr(result)
    assert KEY not in json.dumps([record.as_dict() for record in records])
    assert all(KEY not in record.getMessage() for record in caplog.records)
