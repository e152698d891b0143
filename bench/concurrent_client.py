"""One side of the concurrent-runs benchmark, in a process of its own.

``python -m bench.concurrent_client SPEC_JSON`` drives ``runs`` scripted Assistants runs
against a sandbox that lives in another process, and prints one JSON line: how each run
ended, the wall time, this process's CPU seconds (``resource.getrusage``, user + system,
counted from the first request to the last answer: imports and set-up left out) and its
peak resident set (``ru_maxrss``, the whole life of the process). A process of its own keeps
the sandbox's CPU and memory out of the client's figures.

- ``library``: every run at once on one `AsyncAssistantsRunDriver` (poll mode, defaults)
  with an `AsyncDispatcher`, on one event loop; with ``in_flight``, an ``asyncio.Semaphore``
  lets no more than that many runs be under way at a time;
- ``sdk``: the openai SDK's ``create_and_poll`` / ``submit_tool_outputs_and_poll``
  (`sdk_helpers`) in a pool of ``threads`` threads, the tool call made on one shared
  ``httpx.Client`` (the seed wrapper on kept-alive connections, its cheapest form).

Each run first creates its thread (one request on both sides). Both openai clients keep the
SDK's default of 2 retries, as users run them. Every wait is bounded by ``timeout``; a run
not ended by then counts as lost. For runs that did not complete, the first reason seen
per ending is kept (``samples``).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import os
import resource
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import openai

from bench.baselines import Account, sdk_helpers, seed_loop
from bench.baselines.sdk_helpers import ToolFunction

LIBRARY, SDK = "library", "sdk"
MESSAGE = [{"role": "user", "content": "Look at my inbox."}]
#: How one run ended: its final status (or ``error: <type>``), and why when not completed.
Ending = tuple[str, "str | None"]


@dataclass(frozen=True)
class ClientSpec:
    """What one client process does, and where."""

    way: str
    runs: int
    threads: int
    timeout: float
    in_flight: int | None
    openai_url: str
    multimail_url: str
    api_key: str
    mailbox_id: str
    assistant_id: str


def cpu_seconds() -> float:
    """This process's CPU time so far, user plus system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(
    spec: ClientSpec, endings: Sequence[Ending], wall: float, cpu: float, concurrency: int
) -> dict[str, Any]:
    """The JSON line, from how each run that ended did."""
    samples: dict[str, str] = {}
    for status, detail in endings:
        if detail is not None:
            samples.setdefault(status, detail[:300])
    return {
        "way": spec.way,
        "runs": spec.runs,
        "concurrency": concurrency,
        "ends": dict(collections.Counter(status for status, _ in endings)),
        "samples": samples,
        "lost": spec.runs - len(endings),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "process_cpu_s": round(cpu_seconds(), 3),
        "max_rss_mb": round(peak_rss_mb(), 1),
    }


async def drive_library(spec: ClientSpec) -> dict[str, Any]:
    """Every run at once on one `AsyncAssistantsRunDriver` (``in_flight`` at a time if set)."""
    # imported here, so that the SDK side's process never loads the library
    from mm_assistants import (
        AsyncAssistantsRunDriver,
        AsyncDispatcher,
        AsyncMultiMailClient,
    )

    ai = openai.AsyncOpenAI(api_key="sk-sandbox", base_url=spec.openai_url, timeout=spec.timeout)
    limit = asyncio.Semaphore(spec.in_flight) if spec.in_flight else None
    async with ai, AsyncMultiMailClient(api_key=spec.api_key, base_url=spec.multimail_url) as mm:
        driver = AsyncAssistantsRunDriver(ai, AsyncDispatcher(mm, mailbox_id=spec.mailbox_id))

        async def one() -> Ending:
            async with limit if limit is not None else contextlib.nullcontext():
                thread = await ai.beta.threads.create(messages=MESSAGE)  # type: ignore[arg-type]
                outcome = await driver.run(thread.id, spec.assistant_id)
            return outcome.status, _why(outcome.status, outcome.last_error, outcome.tool_results)

        cpu, started = cpu_seconds(), time.perf_counter()
        tasks = [asyncio.ensure_future(one()) for _ in range(spec.runs)]
        done, pending = await asyncio.wait(tasks, timeout=spec.timeout)
        wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    ends = [_ending(task) for task in done]
    return report(spec, ends, wall, cpu, spec.in_flight or spec.runs)


def drive_sdk(spec: ClientSpec) -> dict[str, Any]:
    """The SDK's polling helpers in a pool of ``spec.threads`` threads."""
    account = Account(spec.multimail_url, spec.api_key, spec.mailbox_id)
    ai = openai.OpenAI(api_key="sk-sandbox", base_url=spec.openai_url, timeout=spec.timeout)
    with ai, httpx.Client(timeout=30) as http:
        call = pooled_call(http)

        def one() -> Ending:
            thread = ai.beta.threads.create(messages=MESSAGE)  # type: ignore[arg-type]
            run, _ = sdk_helpers.run_with_helpers(
                ai, account, thread.id, spec.assistant_id, call=call
            )
            return str(run.status), _why(str(run.status), run.last_error, ())

        pool = concurrent.futures.ThreadPoolExecutor(spec.threads, thread_name_prefix="sdk")
        cpu, started = cpu_seconds(), time.perf_counter()
        futures = [pool.submit(one) for _ in range(spec.runs)]
        done, _ = concurrent.futures.wait(futures, timeout=spec.timeout)
        wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        pool.shutdown(wait=False, cancel_futures=True)
    ends = [_ending(future) for future in done]
    return report(spec, ends, wall, cpu, spec.threads)


def pooled_call(http: httpx.Client) -> ToolFunction:
    """`seed_loop.call_multimail` on one shared client: the same request, kept-alive
    connections instead of a new one per call."""

    def call(account: Account, tool_name: str, args: dict[str, Any]) -> Any:
        method, template = seed_loop.ENDPOINTS[tool_name]
        args = dict(args)
        url = account.base_url + template.format(
            mailbox_id=account.mailbox_id, email_id=args.pop("email_id", "")
        )
        headers = {"Authorization": f"Bearer {account.api_key}"}
        if method == "GET":
            resp = http.get(url, params=args, headers=headers)
        else:
            resp = http.post(url, json=args, headers=headers)
        resp.raise_for_status()
        return resp.json()

    return call


def _ending(job: Any) -> Ending:
    """How a finished task or future ended: its `Ending`, or the exception it raised."""
    error = job.exception()
    if error is None:
        ending: Ending = job.result()
        return ending
    return f"error: {type(error).__name__}", str(error) or repr(error)


def _why(status: str, last_error: Any, tool_results: Sequence[Any]) -> str | None:
    """Why a run did not complete: its ``last_error`` and its first failed tool output."""
    if status == "completed":
        return None
    parts = [str(getattr(last_error, "message", "") or status)]
    parts += [f"{r.name} answered {r.output}" for r in tool_results if not r.ok][:1]
    return "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the side ``argv[0]`` (a JSON `ClientSpec`) names; print its JSON line."""
    args = sys.argv[1:] if argv is None else list(argv)
    spec = ClientSpec(**json.loads(args[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK's Assistants deprecation, once per call
        if spec.way == LIBRARY:
            line = asyncio.run(drive_library(spec))
        elif spec.way == SDK:
            line = drive_sdk(spec)
        else:
            raise SystemExit(f"unknown way {spec.way!r}")
    print(json.dumps(line), flush=True)
    if line["lost"]:
        os._exit(0)  # threads still blocked on a lost run must not hold the process open
    return 0


if __name__ == "__main__":
    sys.exit(main())
