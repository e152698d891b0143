"""One sync and one async set of parts (OpenAI client, dispatcher), for the typed-seams
tests of the drivers and the routers: each case hands a part of the wrong kind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient

BASE = "http://127.0.0.1:9"  # never reached: every case fails or ends before a request


@contextmanager
def both_kinds(key: str) -> Iterator[dict[str, Any]]:
    """The parts by the name of their type; the MultiMail clients are closed after."""
    sync_mm = MultiMailClient(api_key=key, base_url=BASE)
    async_mm = AsyncMultiMailClient(api_key=key, base_url=BASE)
    try:
        yield {
            "OpenAI": openai.OpenAI(api_key="sk-test", base_url=BASE),
            "AsyncOpenAI": openai.AsyncOpenAI(api_key="sk-test", base_url=BASE),
            "Dispatcher": Dispatcher(sync_mm, mailbox_id="mbx_1"),
            "AsyncDispatcher": AsyncDispatcher(async_mm, mailbox_id="mbx_1"),
        }
    finally:
        sync_mm.close()
        asyncio.run(async_mm.aclose())
