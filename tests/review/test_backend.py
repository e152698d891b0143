"""The reviewer's words for each refusal."""

from __future__ import annotations

import pytest

from mm_assistants.review.backend import NO_OVERSIGHT_SCOPE, refusal


@pytest.mark.parametrize(
    ("status", "starts"),
    [
        pytest.param(401, "MultiMail did not accept this API key", id="401"),
        pytest.param(403, NO_OVERSIGHT_SCOPE, id="403-scope"),
        pytest.param(404, "unknown email id em_1: no such email in this account", id="404"),
        pytest.param(409, "email em_1 is not waiting for a decision", id="409"),
        pytest.param(429, "MultiMail is limiting requests", id="429"),
        pytest.param(503, "MultiMail refused the request (HTTP 503)", id="5xx"),
        pytest.param(None, "could not reach MultiMail", id="transport"),
    ],
)
def test_each_refusal_says_what_it_means(status: int | None, starts: str) -> None:
    assert refusal(status, "em_1").startswith(starts)


def test_the_apis_own_words_follow_on_one_short_line() -> None:
    said = refusal(403, detail="Insufficient scope:\n\x1b[31m needs 'oversight'" + "!" * 500)
    assert said.startswith(NO_OVERSIGHT_SCOPE + " (MultiMail said: Insufficient scope: \\x1b[31m")
    assert "\n" not in said
    assert "\x1b" not in said
    assert len(said) < len(NO_OVERSIGHT_SCOPE) + 240


def test_without_an_id_the_message_still_reads() -> None:
    assert refusal(404) == "no such email in this account"
    assert refusal(409).startswith("this email is not waiting")
