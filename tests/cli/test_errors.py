"""`mm_assistants.cli.errors`: one line and a documented exit code per expected failure."""

from __future__ import annotations

import argparse
import io
import warnings
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm_assistants.cli import errors
from mm_assistants.cli import main as cli_main
from mm_assistants.cli.errors import (
    CONFIGURATION,
    INTERRUPTED,
    MISSING_EXTRA,
    REFUSED,
    CliError,
    Failure,
    explain,
    for_the_cli,
    report,
    warnings_as_notes,
)
from mm_assistants.multimail.errors import AuthenticationError, NotFoundError, TransportError
from mm_assistants.review.backend import ReviewError

REQUEST = httpx.Request("POST", "http://127.0.0.1:9/openai/v1/threads/runs?token=s3cret")


def openai_404(body: Any) -> openai.NotFoundError:
    response = httpx.Response(404, request=REQUEST)
    return openai.NotFoundError("Error code: 404", response=response, body=body)


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        pytest.param(CliError("no mailbox"), CONFIGURATION, "no mailbox", id="cli-error"),
        pytest.param(KeyboardInterrupt(), INTERRUPTED, "interrupted", id="ctrl-c"),
        pytest.param(EOFError(), INTERRUPTED, "interrupted", id="ctrl-d"),
        pytest.param(
            ModuleNotFoundError("No module named 'starlette'", name="starlette"),
            MISSING_EXTRA,
            'pip install "mm-assistants[cli]"',
            id="missing-starlette",
        ),
        pytest.param(
            ModuleNotFoundError("No module named 'rich.live'", name="rich.live"),
            MISSING_EXTRA,
            "missing module: rich",
            id="missing-rich-submodule",
        ),
        pytest.param(ReviewError("no such email", status=404), REFUSED, "no such", id="review"),
        pytest.param(
            AuthenticationError("GET /v1/account -> 401", status=401),
            REFUSED,
            "check --api-key / MULTIMAIL_API_KEY",
            id="multimail-401",
        ),
        pytest.param(
            TransportError("could not connect"),
            REFUSED,
            "could not reach MultiMail",
            id="multimail-unreachable",
        ),
        pytest.param(
            NotFoundError("GET /v1/emails/em_1 -> 404", status=404),
            REFUSED,
            "MultiMail refused",
            id="multimail-404",
        ),
        pytest.param(
            openai_404({"message": "No assistant found with id 'asst_nope'."}),
            REFUSED,
            "OpenAI: No assistant found with id 'asst_nope'.",
            id="openai-no-such-assistant",
        ),
        pytest.param(
            openai_404("Not found"),
            CONFIGURATION,
            "does not look like an OpenAI-compatible API",
            id="openai-url-is-another-server",
        ),
        pytest.param(
            openai.APIConnectionError(request=REQUEST),
            REFUSED,
            "could not reach OpenAI at http://127.0.0.1:9: check OPENAI_BASE_URL",
            id="openai-unreachable",
        ),
        pytest.param(
            openai.AuthenticationError(
                "401", response=httpx.Response(401, request=REQUEST), body=None
            ),
            REFUSED,
            "check OPENAI_API_KEY",
            id="openai-401",
        ),
    ],
)
def test_each_expected_failure_has_one_line_and_its_code(
    exc: BaseException, code: int, words: str
) -> None:
    failure = explain(exc)
    assert failure is not None
    assert failure.code == code
    assert words in failure.message
    assert "\n" not in failure.message
    assert "s3cret" not in failure.message  # a URL's query never shows


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(ValueError("a bug"), id="value-error"),
        pytest.param(KeyError("x"), id="key-error"),
        pytest.param(ModuleNotFoundError("No module named 'yaml'", name="yaml"), id="not-extra"),
    ],
)
def test_a_bug_is_not_explained_away(exc: BaseException) -> None:
    assert explain(exc) is None


@pytest.mark.parametrize(
    ("library", "cli"),
    [
        pytest.param(
            "No MultiMail API key: pass api_key=... or set the MULTIMAIL_API_KEY environment "
            "variable.",
            "No MultiMail API key: pass --api-key or set the MULTIMAIL_API_KEY environment "
            "variable.",
            id="api-key",
        ),
        pytest.param(
            "base_url must be an http(s) URL such as https://api.multimail.dev, not 'x'",
            "--base-url must be an http(s) URL such as https://api.multimail.dev, not 'x'",
            id="base-url",
        ),
        pytest.param(
            "The MultiMail API key (api_key or MULTIMAIL_API_KEY) contains spaces",
            "The MultiMail API key (--api-key or MULTIMAIL_API_KEY) contains spaces",
            id="api-key-aside",
        ),
        pytest.param(
            "or pass allow_self_approval=True if one assistant really should do both",
            "or pass --allow-self-approval if one assistant really should do both",
            id="allow-self-approval",
        ),
        pytest.param(
            "the model may use openai_api_key=... here",
            "the model may use openai_api_key=... here",
            id="only-whole-names",
        ),
    ],
)
def test_library_wording_becomes_flag_names(library: str, cli: str) -> None:
    assert for_the_cli(library) == cli


@given(st.text(alphabet=st.characters(blacklist_characters="_=")))
def test_rewording_leaves_text_without_keyword_names_alone(text: str) -> None:
    assert for_the_cli(text) == text


def test_a_line_never_shows_a_secret_or_a_terminal_control() -> None:
    err = io.StringIO()
    failure = Failure(REFUSED, "refused mm_live_SECRET\n\x1b[2Kthen")
    report("mm-assistants run", failure, secrets=[None, "mm_live_SECRET"], err=err)
    line = err.getvalue()
    assert line.count("\n") == 1
    assert "mm_live_SECRET" not in line
    assert "\x1b" not in line
    assert line.startswith("mm-assistants run: refused [redacted]")


def test_warnings_become_one_note_line_each() -> None:
    err = io.StringIO()
    with warnings_as_notes(err):
        warnings.warn("first\nsecond", FutureWarning, stacklevel=1)
        warnings.warn("first\nsecond", FutureWarning, stacklevel=1)
    assert err.getvalue() == "note: first second\n"


def test_a_failing_block_prints_no_notes() -> None:
    err = io.StringIO()

    def fails() -> None:
        with warnings_as_notes(err):
            warnings.warn("sunset", FutureWarning, stacklevel=1)
            raise CliError("wrong key")

    with pytest.raises(CliError):
        fails()
    assert err.getvalue() == ""


def raiser(exc: BaseException) -> Any:
    def handler(args: argparse.Namespace) -> int:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        pytest.param(KeyboardInterrupt(), 130, "mm-assistants schemas: interrupted", id="ctrl-c"),
        pytest.param(EOFError(), 130, "mm-assistants schemas: interrupted", id="ctrl-d"),
        pytest.param(
            CliError("port 8025 is taken"), 2, "mm-assistants schemas: port 8025 is taken", id="cli"
        ),
    ],
)
def test_main_turns_an_expected_failure_into_one_line_on_stderr(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: BaseException,
    code: int,
    line: str,
) -> None:
    from mm_assistants.cli import schemas_cmd

    monkeypatch.setattr(schemas_cmd, "_list", raiser(exc))
    assert cli_main.main(["schemas", "list"]) == code
    assert capsys.readouterr().err == line + "\n"


def test_main_keeps_the_traceback_of_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    from mm_assistants.cli import schemas_cmd

    monkeypatch.setattr(schemas_cmd, "_list", raiser(ZeroDivisionError("bug")))
    with pytest.raises(ZeroDivisionError):
        cli_main.main(["schemas", "list"])


def test_the_exit_codes_are_the_documented_ones() -> None:
    documented = {0, 1, 2, 3, 130}
    codes = {errors.OK, errors.REFUSED, errors.CONFIGURATION, errors.MISSING_EXTRA}
    assert codes | {errors.INTERRUPTED} == documented
    for code in documented:
        assert f"{code} " in (errors.__doc__ or "")


def test_the_readme_lists_the_same_exit_codes() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip() for line in readme.splitlines() if line.startswith("| ")}
    assert {"0", "1", "2", "3", "130"} <= rows


def test_an_unreachable_openai_shows_its_origin_only() -> None:
    request = httpx.Request("GET", "http://user:pw@[::1]:8025/v1/assistants?key=s3cret")
    failure = explain(openai.APIConnectionError(request=request))
    assert failure is not None
    assert failure.message == "could not reach OpenAI at http://[::1]:8025: check OPENAI_BASE_URL"


def test_a_server_that_is_not_openai_is_named_by_its_origin_only() -> None:
    # a gateway may carry its token in the path: the line names scheme, host and port only
    request = httpx.Request("POST", "http://127.0.0.1:9/gw/PATHTOKEN42/v1/threads/runs")
    response = httpx.Response(404, request=request)
    failure = explain(openai.NotFoundError("Error code: 404", response=response, body=None))
    assert failure is not None
    assert failure.code == CONFIGURATION
    assert "PATHTOKEN42" not in failure.message
    assert failure.message.startswith("http://127.0.0.1:9 does not look like an OpenAI")
