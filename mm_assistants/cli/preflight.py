"""Is this MultiMail, and does it take the key? One cheap question before a command relies on
the answer, so a wrong ``--base-url`` is not reported as "no such email".

``GET /v1/account`` exists on every MultiMail deployment and answers any valid key (a key
without the ``read`` scope gets a 403, which still proves the server is MultiMail). A 404 there
means the URL points at another server, e.g. the OpenAI half of the sandbox.

A client without a key (a signup: `MultiMailClient.without_key`) is only asked whether the
URL is MultiMail's: MultiMail's 401 there proves it is.

`judge` decides from the answer (pure); `check_multimail` asks and raises a `CliError`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Literal

from mm_assistants.cli.errors import (
    CONFIGURATION,
    MULTIMAIL_KEY_HINT,
    NOT_MULTIMAIL,
    REFUSED,
    CliError,
    configuration,
)
from mm_assistants.multimail.errors import MultiMailError

if TYPE_CHECKING:
    from mm_assistants.multimail import MultiMailClient

#: The path every MultiMail answers, whatever the key's scopes.
PROBE_PATH = "/v1/account"

Verdict = Literal["ok", "not_multimail", "bad_key"]


def multimail_options(key_help: str = "a MultiMail API key") -> argparse.ArgumentParser:
    """The ``--api-key`` and ``--base-url`` flags every MultiMail command shares (a parent
    parser for ``add_parser(..., parents=[...])``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-key",
        default=None,
        help=f"{key_help} (default: $MULTIMAIL_API_KEY; the variable keeps it out of your "
        "shell history and process list)",
    )
    common.add_argument(
        "--base-url",
        default=None,
        help="MultiMail's API (default: $MULTIMAIL_API_URL, else https://api.multimail.dev)",
    )
    return common


def open_client(args: argparse.Namespace, *, keyed: bool = True) -> MultiMailClient:
    """A `MultiMailClient` from ``--api-key``/``--base-url`` (or the environment); a missing
    key or a malformed URL is a `CliError` that names the flags.

    ``keyed=False`` (a tool set that needs no key) sends no key at all, whatever
    ``--api-key``/``MULTIMAIL_API_KEY`` hold: an existing account's key has no business on
    another account's signup.
    """
    from mm_assistants.multimail import MultiMailClient

    try:
        if not keyed:
            return MultiMailClient.without_key(base_url=args.base_url)
        return MultiMailClient(api_key=args.api_key, base_url=args.base_url)
    except ValueError as exc:  # no key, or a malformed URL: the message never holds the key
        raise configuration(exc, ("api_key", "base_url")) from None


def judge(status: int, body: Any) -> Verdict:
    """What an answer to ``GET /v1/account`` says about the server and the key."""
    if status == 401:
        return "bad_key"
    if status in (404, 405) or 300 <= status < 400:
        return "not_multimail"  # the path MultiMail always serves is not here
    if 200 <= status < 300 and not isinstance(body, dict):
        return "not_multimail"  # an answer, but not MultiMail's JSON object (a web page?)
    # a 403 (a key without ``read``) or a server error: MultiMail's, or no evidence otherwise
    return "ok"


def check_multimail(client: MultiMailClient) -> None:
    """Raise a `CliError` unless ``client`` talks to MultiMail with a key it accepts (for a
    client without a key: unless it talks to MultiMail).

    An unreachable server raises the client's `TransportError` (``main`` explains it).
    """
    try:
        answer = client.request("GET", PROBE_PATH)
        verdict = judge(answer.status, answer.data)
    except MultiMailError as exc:
        if exc.status is None:  # not reached at all: the caller's explanation says so
            raise
        verdict = judge(exc.status, None)
    if verdict == "bad_key" and client.has_key:
        raise CliError(f"MultiMail refused the API key (401): {MULTIMAIL_KEY_HINT}", REFUSED)
    if verdict == "not_multimail":
        raise CliError(NOT_MULTIMAIL, CONFIGURATION)


def is_multimail(client: MultiMailClient) -> bool:
    """Whether ``client``'s base URL answers like MultiMail (its key aside)."""
    try:
        check_multimail(client)
    except CliError as exc:
        return exc.code != CONFIGURATION
    except MultiMailError:
        return True  # unreachable now: no evidence that it is another server
    return True
