"""Which parts a driver is built from: a blocking driver takes an ``OpenAI`` client and a
`Dispatcher`, an async driver an ``AsyncOpenAI`` client and an `AsyncDispatcher`.

The driver classes are typed with their parts' kinds (mypy refuses a mix), and
`require_parts` refuses one at construction for callers without a type checker: an
`AsyncDispatcher` in a blocking driver would otherwise fail mid-run on a coroutine nobody
awaited, after the run was created. Objects that cannot be told apart (test doubles,
mocks) are let through.
"""

from __future__ import annotations

from typing import TypeVar

import openai

from mm_assistants import _validate
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher

OpenAIT = TypeVar("OpenAIT", openai.OpenAI, openai.AsyncOpenAI)
DispatcherT = TypeVar("DispatcherT", Dispatcher, AsyncDispatcher)


def openai_flavour(client: object) -> _validate.Flavour | None:
    """``"async"`` for an ``AsyncOpenAI`` (or a client whose ``responses.create`` must be
    awaited), ``"sync"`` for an ``OpenAI``, ``None`` when it cannot be told."""
    if isinstance(client, openai.AsyncOpenAI):
        return "async"
    if isinstance(client, openai.OpenAI):
        return "sync"
    return _validate.flavour_of(client, "responses.create")


def require_parts(
    owner: str,
    openai_client: object,
    dispatcher: object,
    *,
    asynchronous: bool,
    twin: str | None = None,
) -> None:
    """A `TypeError` naming what to pass instead when ``owner`` (a driver, or the chat
    loop) is handed an OpenAI client or a dispatcher of the other kind; ``twin`` is the
    class to use for the parts given, if there is one."""
    wanted: _validate.Flavour = "async" if asynchronous else "sync"
    other = f", or use {twin}" if twin else ""
    client_kind, dispatcher_kind = (
        ("an AsyncOpenAI", "an AsyncDispatcher") if asynchronous else ("an OpenAI", "a Dispatcher")
    )
    _validate.refuse_mix(
        owner,
        "OpenAI client",
        openai_client,
        found=openai_flavour(openai_client),
        wanted=wanted,
        instead=f"pass {client_kind} client{other}",
    )
    _validate.refuse_mix(
        owner,
        "dispatcher",
        dispatcher,
        found=_validate.flavour_of(dispatcher, "dispatch_many")
        or _validate.flavour_of(dispatcher, "dispatch"),
        wanted=wanted,
        instead=f"pass {dispatcher_kind}{other}",
    )
