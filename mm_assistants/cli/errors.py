"""How the ``mm-assistants`` command fails: its exit codes, and one actionable line for every
failure a user can cause, instead of a traceback.

Exit codes (the README's "Command line" section lists them too)::

    0    done
    1    the service said no: MultiMail or OpenAI refused (a wrong key, an unknown id), could
         not be reached, or a run did not end ``completed``
    2    usage or configuration: a flag or variable is missing or wrong (no key, a URL that
         is not MultiMail's or OpenAI's, a taken port)
    3    an optional extra is not installed: the line names it (pip install "mm-assistants[cli]")
    130  interrupted (Ctrl-C, or Ctrl-D at a prompt)

`explain` maps the exceptions a user can cause to a `Failure`; every other exception is a bug
and keeps its traceback. Commands raise `CliError` for failures they recognise themselves.
``main`` prints the line with `report`, which shows untrusted text safely and scrubs secrets.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import urlsplit

from mm_assistants.multimail.errors import (
    AuthenticationError,
    MultiMailError,
    PermissionDeniedError,
    TransportError,
)
from mm_assistants.review.backend import ReviewError
from mm_assistants.review.untrusted import printable

OK = 0
REFUSED = 1
CONFIGURATION = 2
MISSING_EXTRA = 3
INTERRUPTED = 130

#: The optional top-level modules, and the extra that installs each. Every command of the CLI
#: asks for ``cli`` (the sandbox and the terminal renderer): one line to copy fixes them all.
OPTIONAL_MODULES: Mapping[str, str] = {
    "starlette": "cli",
    "uvicorn": "cli",
    "h11": "cli",
    "rich": "cli",
    "fastapi": "fastapi",
    "flask": "flask",
    "werkzeug": "flask",
}

#: Python keyword arguments the library's messages name, and the flags that set them.
FLAG_NAMES: Mapping[str, str] = {
    "api_key": "--api-key",
    "base_url": "--base-url",
    "allow_self_approval": "--allow-self-approval",
    "mailbox_id": "--mailbox-id",
}

MULTIMAIL_KEY_HINT = "check --api-key / MULTIMAIL_API_KEY"
MULTIMAIL_URL_HINT = "check --base-url / MULTIMAIL_API_URL"
NOT_MULTIMAIL = f"this URL does not look like MultiMail's API: {MULTIMAIL_URL_HINT}"
OPENAI_URL_HINT = "check OPENAI_BASE_URL"


@dataclass(frozen=True)
class Failure:
    """What the command prints (one line, without the program name) and its exit code."""

    code: int
    message: str


class CliError(Exception):
    """An expected failure a command recognised itself: ``main`` prints ``str(error)`` as one
    line and exits with ``code``.

    Example::

        raise CliError("no mailbox: pass --mailbox-id or set MULTIMAIL_MAILBOX_ID")
    """

    def __init__(self, message: str, code: int = CONFIGURATION) -> None:
        super().__init__(message)
        self.code = code


def explain(exc: BaseException) -> Failure | None:
    """The one line and exit code for a failure a user can cause; ``None`` for a bug."""
    if isinstance(exc, CliError):
        return Failure(exc.code, str(exc))
    if isinstance(exc, (KeyboardInterrupt, EOFError)):
        return Failure(INTERRUPTED, "interrupted")
    if isinstance(exc, ImportError):
        return missing_extra(exc)
    if isinstance(exc, ReviewError):
        return Failure(REFUSED, str(exc))
    if isinstance(exc, MultiMailError):
        return _multimail(exc)
    return _openai(exc)


def missing_extra(exc: ImportError) -> Failure | None:
    """The install hint for an optional module that is not installed; ``None`` otherwise."""
    module = (exc.name or "").partition(".")[0]
    extra = OPTIONAL_MODULES.get(module)
    if extra is None:
        return None
    return Failure(
        MISSING_EXTRA,
        f'this command needs the "{extra}" extra (missing module: {module}); '
        f'install it with: pip install "mm-assistants[{extra}]"',
    )


def for_the_cli(message: str, flags: Iterable[str] = FLAG_NAMES) -> str:
    """A library message reworded for the command line: ``pass api_key=...`` becomes
    ``pass --api-key``, for the keyword names in ``flags`` (the flags the command has).

    The library's own messages stay written for Python callers; only the CLI rewords them.
    """
    for name in flags:
        flag = FLAG_NAMES[name]
        message = re.sub(rf"\b{name}=(\.\.\.|True)?", flag, message)
        message = message.replace(f"({name} or ", f"({flag} or ")
        if message.startswith(f"{name} "):
            message = flag + message[len(name) :]
    return message


def configuration(exc: ValueError, flags: Iterable[str] = FLAG_NAMES) -> CliError:
    """A library configuration error (``ValueError``), as the command line says it."""
    return CliError(for_the_cli(str(exc), flags), CONFIGURATION)


def report(prog: str, failure: Failure, *, secrets: Iterable[str | None] = (), err: TextIO) -> None:
    """Print ``prog: message`` as one line: secrets scrubbed, terminal controls made visible."""
    line = failure.message
    for secret in secrets:
        if secret:
            line = line.replace(secret, "[redacted]")
    # messages may quote a server's words or a typed id: untrusted on a terminal
    print(f"{prog}: {printable(' '.join(line.split()))}", file=err, flush=True)


@contextmanager
def warnings_as_notes(err: TextIO | None = None) -> Iterator[None]:
    """Show the warnings raised inside as ``note: ...`` lines (no file path, no source line),
    once the block succeeds.

    A person at a terminal reads the message; the Python location means nothing to them. A
    block that fails prints no notes: its one error line is all the user needs then.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    out = err if err is not None else sys.stderr
    for note in dict.fromkeys(" ".join(str(seen.message).split()) for seen in caught):
        print(f"note: {note}", file=out)


def _multimail(exc: MultiMailError) -> Failure:
    if isinstance(exc, AuthenticationError):
        return Failure(REFUSED, f"MultiMail refused the API key (401): {MULTIMAIL_KEY_HINT}")
    if isinstance(exc, PermissionDeniedError):
        return Failure(REFUSED, f"MultiMail refused (403): {exc.error or exc}")
    if isinstance(exc, TransportError):
        return Failure(REFUSED, f"could not reach MultiMail ({exc}): {MULTIMAIL_URL_HINT}")
    return Failure(REFUSED, f"MultiMail refused: {exc}")


def _openai(exc: BaseException) -> Failure | None:
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a core dependency
        return None
    if isinstance(exc, openai.AuthenticationError):
        return Failure(REFUSED, "OpenAI refused the API key (401): check OPENAI_API_KEY")
    if isinstance(exc, openai.NotFoundError):
        said = _openai_message(exc.body)
        if said is None:  # an answer without OpenAI's error shape: another server
            return Failure(
                CONFIGURATION,
                f"{_origin(exc.request.url)} does not look like an OpenAI-compatible API "
                f"(it answered 404 without OpenAI's error shape): {OPENAI_URL_HINT}",
            )
        return Failure(REFUSED, f"OpenAI: {said}")
    if isinstance(exc, openai.APIStatusError):
        said = _openai_message(exc.body) or "no reason given"
        return Failure(REFUSED, f"OpenAI refused ({exc.status_code}): {said}")
    if isinstance(exc, openai.APIConnectionError):
        return Failure(
            REFUSED, f"could not reach OpenAI at {_origin(exc.request.url)}: {OPENAI_URL_HINT}"
        )
    return None


def _openai_message(body: object) -> str | None:
    # The SDK keeps the ``error`` object of an OpenAI-shaped answer as ``body``.
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return str(body["message"])
    return None


def _origin(url: object) -> str:
    # scheme, host and port only: a path or query could carry a token
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
