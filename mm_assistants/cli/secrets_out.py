"""``mm-assistants run --secrets-file PATH``: where the secrets the dispatcher withholds from the
model go when the command line runs it.

Some answers carry a credential for the operator (``activate_account``'s API key, shown once;
``create_api_key``'s key; ``create_webhook``'s signing secret; the signed billing links of
``get_billing_portal`` and ``upgrade_plan``; see `mm_assistants.dispatch.handoff`). The
dispatcher hands each to ``on_secret``; `SecretsFile` is that callback for ``run``: it
appends one JSON line per secret to a file only its owner can read::

    {"tool": "activate_account", "call_id": "call_1", "field": "api_key",
     "value": "mm_live_...", "at": "2025-01-01T12:00:00Z"}

The line is on disk (flushed and fsynced) before the callback returns, so the model is told
"handed to the operator" only once it is true; a failed write raises, and the dispatcher
tells the model the handoff failed (``secret_handoff_failed``), never the value. The file is
opened once, at start-up: a path that is a symlink, not a regular file, someone else's, or
open to group or others is one line (exit 2) before anything runs. It is never truncated.

Without ``--secrets-file``, `refused_note` is the one line that says which of the profile's
tools will be refused and how to enable them.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import stat
import threading
from collections.abc import Iterable
from typing import Final

from mm_assistants.cli.errors import CliError
from mm_assistants.dispatch.handoff import SecretHandoff
from mm_assistants.dispatch.withholding import carries_secrets

FLAG: Final = "--secrets-file"
#: Group and other permission bits: any of them lets another account near the secrets.
OPEN_TO_OTHERS: Final = 0o077
# O_NONBLOCK: opening a FIFO for writing would otherwise wait for a reader, unbounded; a
# regular file ignores it. O_NOFOLLOW: a symlink planted at PATH is refused, not followed.
_FLAGS: Final = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_APPEND
    | os.O_NOFOLLOW
    | os.O_NONBLOCK
    | getattr(os, "O_CLOEXEC", 0)
)


def file_problem(mode: int, owner: int, me: int) -> str | None:
    """Why an opened file (its ``st_mode`` and ``st_uid``; ``me`` our uid) may not hold
    secrets, as the end of a sentence; ``None`` when it may."""
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    if owner != me:
        return "belongs to another user"
    if mode & OPEN_TO_OTHERS:
        return (
            f"is open to group or others (mode {stat.S_IMODE(mode):04o}); "
            "make it private with: chmod 600"
        )
    return None


def refused_tools(enabled: Iterable[str]) -> list[str]:
    """The tools of ``enabled`` that a run without somewhere to put secrets refuses."""
    return sorted(name for name in enabled if carries_secrets(name))


def refused_note(enabled: Iterable[str]) -> str | None:
    """The start-up line of a run without ``--secrets-file``; ``None`` when no tool of
    ``enabled`` answers with a secret (nothing is refused, so nothing is said)."""
    refused = refused_tools(enabled)
    if not refused:
        return None
    return (
        f"note: {', '.join(refused)} answer with a secret for the operator, and without "
        f"{FLAG} there is nowhere to put it: the model's calls of them are refused; pass "
        f"{FLAG} PATH (a file only you can read) to receive the secrets there"
    )


def secret_line(handoff: SecretHandoff, at: datetime.datetime) -> bytes:
    """One line of the file: the handoff and when (UTC, to the second), as JSON."""
    record = {
        "tool": handoff.tool,
        "call_id": handoff.call_id,
        "field": handoff.field,
        "value": handoff.value,
        "at": at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


class SecretsFile:
    """``on_secret`` for ``run``: appends each `SecretHandoff` to ``path`` and fsyncs it.

    `open` checks and opens the file (a `CliError` with exit 2 when it may not hold secrets);
    calling the object writes one line; `written` lists what was written (by `str`, which
    never shows a value). Safe to call from the dispatcher's worker threads.

    Example::

        with SecretsFile.open("~/.mm-secrets.jsonl") as secrets:
            dispatcher = Dispatcher(client, profile="signup", on_secret=secrets)
    """

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._lock = threading.Lock()
        self.written: list[str] = []

    @classmethod
    def open(cls, path: str) -> SecretsFile:
        """``path`` (``~`` expanded) opened for appending, created 0600 when missing."""
        path = os.path.expanduser(path)
        try:
            fd = os.open(path, _FLAGS, 0o600)
        except OSError as exc:
            raise CliError(f"{FLAG} {path} {_open_failure(exc)}") from None
        try:
            seen = os.fstat(fd)
            problem = file_problem(seen.st_mode, seen.st_uid, os.getuid())
        except OSError as exc:  # pragma: no cover - fstat of a file just opened
            problem = f"cannot be checked ({exc.strerror})"
        if problem is not None:
            os.close(fd)
            raise CliError(f"{FLAG} {path} {problem}; secrets are only written to a private file")
        _sync_folder(path)  # a file just created must survive a crash with its first key
        return cls(path, fd)

    def __call__(self, handoff: SecretHandoff) -> None:
        line = secret_line(handoff, datetime.datetime.now(datetime.timezone.utc))
        with self._lock:
            view = memoryview(line)
            while view:  # os.write may take less than it is given
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
            self.written.append(str(handoff))

    def close(self) -> None:
        """Close the file (the lines are already on disk)."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> SecretsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SecretsFile({self.path!r}, written={len(self.written)})"


def _open_failure(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symlink; name the file itself"
    if exc.errno in (errno.EISDIR, errno.ENXIO):  # a folder; a FIFO nobody reads
        return "is not a regular file"
    return f"cannot be opened for appending ({exc.strerror})"


def _sync_folder(path: str) -> None:
    try:
        folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:  # a folder we may not open: the file's own fsync still holds its lines
        return
    try:
        os.fsync(folder)
    except OSError:  # some file systems refuse fsync on a folder; nothing more to do
        pass
    finally:
        os.close(folder)


__all__ = [
    "FLAG",
    "OPEN_TO_OTHERS",
    "SecretsFile",
    "file_problem",
    "refused_note",
    "refused_tools",
    "secret_line",
]
