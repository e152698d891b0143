"""Starting an Assistants run so that a crash cannot post a message twice.

The messages of a run travel as ``additional_messages`` on ``runs.create``: OpenAI adds
them to the thread and starts the run in one request, so there is no moment where a
message is posted and its run not started. Each carries its key in its metadata
(`KEY_FIELD`), so a caller that retries after a crash (a redelivered task, a worker that
took over a lapsed claim) first reads the thread's newest messages and leaves out those
already there; when all of them are, the run that carried them is driven instead of
starting another one.

A thread that already has an active run (OpenAI's 400 ``Thread ... already has an active
run run_...``) is attached: that run is driven to its end, then the thread is looked at
again and whatever is still missing starts its own run, at most `BUSY_ATTEMPTS` times
before `ThreadBusyError`. Nothing is posted while another run works, so nothing is lost
and nothing doubled: a message is either on the thread (run by the attached run or a
later one) or still with the caller.

`start_keyed` (blocking) and `start_keyed_async` are the shells; everything they decide
is in the small functions below.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.steps import is_terminal

#: The metadata field of a posted message that names it (an inbound email's id).
KEY_FIELD = "mm_message_key"
#: How many times a busy thread is waited for before `ThreadBusyError`.
BUSY_ATTEMPTS = 3
#: How many of the thread's newest messages are read to find those already posted
#: (one page: a message a crash left behind is among the thread's last ones).
RECENT_MESSAGES = 100
#: OpenAI's longest metadata value.
MAX_KEY_CHARS = 512

_ACTIVE_RUN = re.compile(r"already has an active run\s+(run_[A-Za-z0-9_-]+)")
_BUSY = "already has an active run"


@dataclass(frozen=True)
class KeyedMessage:
    """A user message to post to a thread at most once; ``key`` names it (an email id)."""

    key: str
    content: str

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key or len(self.key) > MAX_KEY_CHARS:
            raise ValueError(f"a message key is 1 to {MAX_KEY_CHARS} characters")

    def __repr__(self) -> str:
        # the content is often a stranger's words: the key only
        return f"KeyedMessage(key={self.key!r})"


class ThreadBusyError(RuntimeError):
    """The thread still had another active run after `BUSY_ATTEMPTS` waits; none of the
    messages not yet on the thread were posted (the caller keeps them)."""

    def __init__(self, thread_id: str, keys: Sequence[str]) -> None:
        super().__init__(f"thread {thread_id} kept another active run; not posted: {keys}")
        self.thread_id = thread_id
        self.keys = tuple(keys)


def additional(messages: Iterable[KeyedMessage]) -> list[dict[str, Any]]:
    """``additional_messages`` entries: user messages carrying their key in metadata."""
    return [
        {"role": "user", "content": m.content, "metadata": {KEY_FIELD: m.key}} for m in messages
    ]


def start_params(
    assistant_id: str, create_params: Mapping[str, Any], messages: Sequence[KeyedMessage]
) -> dict[str, Any]:
    """``runs.create`` parameters: the caller's, with the keyed messages after any
    ``additional_messages`` the caller gave."""
    params: dict[str, Any] = {"assistant_id": assistant_id, **create_params}
    if messages:
        given = list(params.get("additional_messages") or [])
        params["additional_messages"] = [*given, *additional(messages)]
    return params


def posted_keys(thread_messages: Iterable[Any]) -> set[str]:
    """The keys carried by messages already on a thread."""
    keys = set()
    for message in thread_messages:
        metadata = getattr(message, "metadata", None)
        key = metadata.get(KEY_FIELD) if isinstance(metadata, Mapping) else None
        if isinstance(key, str):
            keys.add(key)
    return keys


def unposted(messages: Sequence[KeyedMessage], keys: set[str]) -> list[KeyedMessage]:
    """The messages not on the thread yet, in their order."""
    return [m for m in messages if m.key not in keys]


def is_busy(error: BaseException) -> bool:
    """Whether a run create failed because the thread already has an active run."""
    return isinstance(error, openai.BadRequestError) and _BUSY in _message(error)


def active_run_in(error: BaseException) -> str | None:
    """The id of the active run an "already has an active run" answer names, if any."""
    found = _ACTIVE_RUN.search(_message(error))
    return found.group(1) if found else None


def active_id(run: Any) -> str | None:
    """The id of ``run`` (a thread's newest run) when it is still active."""
    if run is None or is_terminal(str(getattr(run, "status", ""))):
        return None
    return str(run.id)


def _message(error: BaseException) -> str:
    return str(getattr(error, "message", error))


# -- the shells ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookups:
    """The two reads a keyed start makes besides the run itself (blocking)."""

    recent_messages: Callable[[], list[Any]]
    latest_run: Callable[[], Any]


@dataclass(frozen=True)
class AsyncLookups:
    """`Lookups` awaited."""

    recent_messages: Callable[[], Awaitable[list[Any]]]
    latest_run: Callable[[], Awaitable[Any]]


def start_keyed(
    thread_id: str,
    messages: Sequence[KeyedMessage],
    *,
    check_posted: bool,
    look: Lookups,
    start: Callable[[Sequence[KeyedMessage]], RunOutcome],
    attach: Callable[[str], RunOutcome],
) -> RunOutcome:
    """Start a run carrying whichever of ``messages`` are not on the thread yet (see the
    module docstring); ``start(pending)`` creates and drives it, ``attach(run_id)`` drives
    a run already there."""
    pending = list(messages)
    for _ in range(BUSY_ATTEMPTS):
        if check_posted and messages:
            pending = unposted(messages, posted_keys(look.recent_messages()))
            if not pending:
                latest = look.latest_run()
                if latest is not None:  # they went with this run (or an earlier one)
                    return attach(str(latest.id))
        try:
            return start(pending)
        except openai.BadRequestError as error:
            if not is_busy(error):
                raise
            run_id = active_run_in(error) or active_id(look.latest_run())
        if run_id is not None:
            attach(run_id)  # drive it to its end; then look again at what it carried
        check_posted = True
    raise ThreadBusyError(thread_id, [m.key for m in pending])


async def start_keyed_async(
    thread_id: str,
    messages: Sequence[KeyedMessage],
    *,
    check_posted: bool,
    look: AsyncLookups,
    start: Callable[[Sequence[KeyedMessage]], Awaitable[RunOutcome]],
    attach: Callable[[str], Awaitable[RunOutcome]],
) -> RunOutcome:
    """`start_keyed` awaited."""
    pending = list(messages)
    for _ in range(BUSY_ATTEMPTS):
        if check_posted and messages:
            pending = unposted(messages, posted_keys(await look.recent_messages()))
            if not pending:
                latest = await look.latest_run()
                if latest is not None:
                    return await attach(str(latest.id))
        try:
            return await start(pending)
        except openai.BadRequestError as error:
            if not is_busy(error):
                raise
            run_id = active_run_in(error) or active_id(await look.latest_run())
        if run_id is not None:
            await attach(run_id)
        check_posted = True
    raise ThreadBusyError(thread_id, [m.key for m in pending])
