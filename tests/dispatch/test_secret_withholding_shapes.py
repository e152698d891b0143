"""What the model and the operator each get when a secret sits somewhere unusual in an
answer: in a list, in a wrapper, empty, structured (with parts that overlap, keys, lists),
next to public links; and what an error answer blanks besides its secret fields."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import respx

from mm_assistants.dispatch.handoff import WITHHELD, SecretHandoff
from mm_assistants.dispatch.withholding import SCRUBBED, as_text, mark_withheld
from tests.dispatch.conftest import Harness
from tests.dispatch.test_secret_withholding import ACTIVATE, RAW_KEY, run

MARKER = dict(WITHHELD)


def activate(
    harness: Harness, api: respx.MockRouter, answer: Any, status: int = 200
) -> tuple[Any, dict[str, str]]:
    """What the model reads (without the framing notice) and what the operator was handed,
    by field, for an activate_account answered with ``answer``."""
    handed: list[SecretHandoff] = []
    result = run(harness, api, *ACTIVATE, httpx.Response(status, json=answer), handed)
    assert result.ok is (status < 400), result.output
    seen = json.loads(result.output)
    if isinstance(seen, dict):
        seen.pop("content_notice", None)
    return seen, {h.field: h.value for h in handed}


def test_a_wrapped_secret_is_marked_where_it_was_and_nowhere_else(
    harness: Harness, api: respx.MockRouter
) -> None:
    seen, handed = activate(harness, api, {"data": {"api_key": RAW_KEY, "status": "active"}})
    # One marker, inside the wrapper: no stray top-level "data.api_key" field for the model.
    assert seen == {"untrusted": {"data": {"api_key": MARKER, "status": "active"}}}
    assert handed == {"data.api_key": RAW_KEY}


def test_a_secret_inside_a_list_is_marked_in_its_item_and_named_by_its_index(
    harness: Harness, api: respx.MockRouter
) -> None:
    answer = {
        "status": "active",
        "keys": [{"id": "k0", "label": "old"}, {"id": "k1", "api_key": RAW_KEY}],
    }
    seen, handed = activate(harness, api, answer)
    assert seen["status"] == "active"
    assert [item["id"] for item in seen["keys"]] == ["k0", "k1"]  # the list keeps its items
    assert seen["keys"][1]["untrusted"] == {"api_key": MARKER}
    assert handed == {"keys[1].api_key": RAW_KEY}


def test_an_answer_that_is_a_list_names_its_secrets_by_index(
    harness: Harness, api: respx.MockRouter
) -> None:
    seen, handed = activate(harness, api, [{"api_key": RAW_KEY}])
    assert seen == {"untrusted": {"result": [{"api_key": MARKER}]}}
    assert handed == {"[0].api_key": RAW_KEY}


def test_an_empty_secret_field_leaves_the_rest_of_the_answer_readable(
    harness: Harness, api: respx.MockRouter
) -> None:
    seen, _ = activate(harness, api, {"api_key": "", "status": "active", "mailbox": "mbx_1"})
    assert seen["status"] == "active"
    assert json.dumps(seen).count(SCRUBBED) == 0


def test_a_successful_answer_keeps_its_public_links(
    harness: Harness, api: respx.MockRouter
) -> None:
    dashboard = "https://multimail.dev/dashboard?tab=keys"
    seen, handed = activate(harness, api, {"api_key": RAW_KEY, "dashboard_url": dashboard})
    assert seen["untrusted"]["dashboard_url"] == dashboard  # only error answers blank links
    assert handed == {"api_key": RAW_KEY}


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param({"value": RAW_KEY, "label": "clé de production"}, id="value-first"),
        pytest.param({"label": "clé de production", "value": RAW_KEY}, id="label-first"),
    ],
)
def test_a_structured_secret_reaches_the_operator_as_the_same_readable_text(
    harness: Harness, api: respx.MockRouter, secret: dict[str, str]
) -> None:
    # Whatever order the API writes the fields in, the operator stores the same text, with
    # its characters as written (not \u escapes).
    _, handed = activate(harness, api, {"api_key": secret})
    assert handed == {
        "api_key": '{"label": "clé de production", "value": "mm_live_SECRETKEY_0123456789abcdef"}'
    }


def test_a_secret_inside_a_longer_one_never_leaves_the_longer_ones_rest_visible(
    harness: Harness, api: respx.MockRouter
) -> None:
    header = "Bearer tok_ABCDEFGH sig=9f8e7d6c5b4a"
    answer = {"api_key": {"token": "tok_ABCDEFGH", "header": header}, "hint": f"send {header}"}
    seen, _ = activate(harness, api, answer)
    text = json.dumps(seen)
    assert "9f8e7d6c5b4a" not in text
    assert "tok_ABCDEFGH" not in text
    assert seen["untrusted"]["hint"] == f"send {SCRUBBED}"  # blanked whole, not piecemeal


def test_a_part_of_eight_characters_is_blanked_and_a_shorter_one_is_not(
    harness: Harness, api: respx.MockRouter
) -> None:
    answer = {
        "api_key": {"pin": "12345678", "prefix": "mm_live"},
        "hint": "pin 12345678, prefix mm_live",
    }
    seen, _ = activate(harness, api, answer)
    assert seen["untrusted"]["hint"] == f"pin {SCRUBBED}, prefix mm_live"


def test_the_keys_and_list_items_of_a_structured_secret_are_blanked_elsewhere(
    harness: Harness, api: respx.MockRouter
) -> None:
    secret = {"routes": {"mbx_private_route_77": "ops"}, "scopes": ["send-as-ops-2024"]}
    answer = {"api_key": secret, "hint": "mbx_private_route_77 may send-as-ops-2024"}
    seen, handed = activate(harness, api, answer)
    assert seen["untrusted"]["hint"] == f"{SCRUBBED} may {SCRUBBED}"
    assert json.loads(handed["api_key"]) == secret


def test_an_error_answer_blanks_a_credential_used_as_a_key(
    harness: Harness, api: respx.MockRouter
) -> None:
    other_key = "mm_live_OTHERKEY_fedcba9876543210"
    body = {"error": "a key is already active", "active": {other_key: "active"}}
    handed: list[SecretHandoff] = []
    result = run(harness, api, *ACTIVATE, httpx.Response(409, json=body), handed)
    assert result.error_type == "api_error"
    assert other_key not in result.output
    assert SCRUBBED in result.output
    assert handed == []


# -- the module's public helpers, called directly --------------------------------------------
# The dispatcher only feeds them decoded JSON and shaped objects; other callers may not.


def test_as_text_writes_a_value_json_cannot_hold_as_its_text() -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert as_text({"key": "k", "expires": expires}) == (
        '{"expires": "2030-01-02 03:04:05+00:00", "key": "k"}'
    )


@pytest.mark.parametrize("shaped", [["item"], "text", None], ids=["list", "text", "none"])
def test_mark_withheld_leaves_an_output_that_is_not_an_object_as_it_is(shaped: Any) -> None:
    assert mark_withheld(shaped, {"api_key": RAW_KEY}) == shaped
