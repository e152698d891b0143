"""How a streaming `ResponsesDriver` / `AsyncResponsesDriver` hands events to its
``on_event`` callback (`Emitter`, `AsyncEmitter`), and what a callback that raises stops.

The callback is called from more than one place: the driver's own thread (or the event loop)
while a turn streams, and, for `AwaitingApproval`, the dispatcher's worker threads (the
blocking driver) as each held send's wait begins. So it should be quick: the blocking driver
delivers one event at a time under a lock, and the async driver runs a plain callback on the
loop, where blocking stalls every dispatch task. An async callback is bounded by
`CALLBACK_TIMEOUT` seconds; one that takes longer counts as raising `TimeoutError`.

A callback that raises ends the run at once: the emitter records the first failure and sets
the cancel event it gave each call of the step (`Emitter.watch`), combined with the caller's
own ``context.cancel``. That ends an approval wait now rather than at ``max_wait`` (the
approval stays recorded for the late-decision path) and keeps calls not yet sent from
being sent.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from mm_assistants.dispatch import PendingApproval, ToolCall, ToolResult
from mm_assistants.dispatch.batch import StopSignal
from mm_assistants.drivers.stream_events import AwaitingApproval, StreamEvent, ToolOutputReady

EventCallback = Callable[[StreamEvent], Any]

#: Seconds an async ``on_event`` may take for one event before it counts as raising.
CALLBACK_TIMEOUT = 10.0


class StreamAborted(Exception):
    """The ``on_event`` callback raised ``cause``; the driver turns this into its outcome
    (it never reaches the caller)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(f"on_event raised {type(cause).__name__}")
        self.cause = cause


def is_async_callable(on_event: Any) -> bool:
    """Whether calling ``on_event`` makes a coroutine: an ``async def`` (or a partial of
    one), or an object whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(on_event) or inspect.iscoroutinefunction(
        getattr(on_event, "__call__", None)  # noqa: B004 -- the method itself is inspected
    )


def check_callback(owner: str, on_event: Any, *, stream: bool, awaits: bool) -> None:
    """A `TypeError`/`ValueError` at construction for a callback the driver cannot use."""
    if on_event is None:
        return
    if not callable(on_event):
        raise TypeError(f"{owner}: on_event must be callable, not {type(on_event).__name__}")
    if not stream:
        raise ValueError(f"{owner}: on_event needs stream=True (events come from the stream)")
    if not awaits and is_async_callable(on_event):
        raise TypeError(
            f"{owner}: on_event is an async function, which a blocking driver cannot await;"
            " pass a plain function, or use AsyncResponsesDriver"
        )


def chained(
    first: Callable[[str, PendingApproval], None] | None,
    then: Callable[[str, PendingApproval], None],
) -> Callable[[str, PendingApproval], None]:
    """An ``on_held`` hook that calls a caller's own hook ``first`` (if any), then ``then``."""
    if first is None:
        return then

    def both(call_id: str, pending: PendingApproval) -> None:
        try:
            first(call_id, pending)
        finally:  # the caller's hook failing must not hide the wait from the driver
            then(call_id, pending)

    return both


class _Stops:
    """The cancel events handed to the calls of each step, all set once the callback fails."""

    def __init__(self) -> None:
        self.failure: Exception | None = None
        self._signals: list[StopSignal] = []
        self._guard = threading.Lock()

    def watch(
        self, calls: Sequence[ToolCall], on_held: Callable[[str, PendingApproval], None]
    ) -> list[ToolCall]:
        """``calls``, each with a cancel event of its own (also set by the caller's
        ``context.cancel``, if any) and ``on_held`` chained after the caller's hook."""
        watched = []
        for call in calls:
            signal = StopSignal(call.context.cancel)
            with self._guard:
                self._signals.append(signal)
                if self.failure is not None:
                    signal.set()
            context = replace(
                call.context, cancel=signal, on_held=chained(call.context.on_held, on_held)
            )
            watched.append(replace(call, context=context))
        return watched

    def fail(self, error: Exception) -> None:
        """Record the first failure and stop every watched call."""
        with self._guard:
            if self.failure is None:
                self.failure = error
            signals, self._signals = self._signals, []
        for signal in signals:
            signal.set()

    def check(self) -> None:
        """`StreamAborted` once the callback has raised."""
        if self.failure is not None:
            raise StreamAborted(self.failure)


class Emitter(_Stops):
    """Delivers events to a blocking driver's callback, one at a time (approval waits
    start in the dispatcher's worker threads), and stops the run at its first exception."""

    def __init__(self, on_event: EventCallback | None) -> None:
        super().__init__()
        self.on_event = on_event
        self._lock = threading.Lock()

    def deliver(self, event: StreamEvent) -> None:
        """Call the callback; never raises (it may run mid-dispatch)."""
        if self.on_event is None:
            return
        with self._lock:
            if self.failure is not None:
                return
            try:
                returned = self.on_event(event)
            except Exception as error:  # noqa: BLE001 -- any callback error aborts the run
                self.fail(error)
                return
            if inspect.isawaitable(returned):
                # Nothing here could await it: say so instead of dropping every event.
                close = getattr(returned, "close", None)
                if callable(close):
                    close()  # no "never awaited" warning
                self.fail(TypeError("on_event returned an awaitable; use AsyncResponsesDriver"))

    def __call__(self, event: StreamEvent) -> None:
        """`deliver`, then stop the run (`StreamAborted`) if the callback ever raised."""
        self.deliver(event)
        self.check()

    def held(self, call_id: str, pending: PendingApproval) -> None:
        """The dispatcher's ``on_held`` hook."""
        self.deliver(AwaitingApproval(call_id, pending.email_id))

    def outputs(self, results: Sequence[ToolResult]) -> None:
        """One `ToolOutputReady` per result (a raising callback is seen by `check`)."""
        for result in results:
            self.deliver(ToolOutputReady(result.call_id, result.name, result.ok))


class AsyncEmitter(_Stops):
    """`Emitter` for `AsyncResponsesDriver`: the callback may be sync or async (bounded by
    `CALLBACK_TIMEOUT`)."""

    def __init__(self, on_event: EventCallback | None, timeout: float | None = None) -> None:
        super().__init__()
        self.on_event = on_event
        # read at construction, not import: a test (or an operator) may lower it
        self.timeout = CALLBACK_TIMEOUT if timeout is None else timeout
        self._pending: set[asyncio.Task[None]] = set()

    async def deliver(self, event: StreamEvent) -> None:
        """Call (and await, bounded) the callback; never raises."""
        if self.on_event is None or self.failure is not None:
            return
        try:
            returned = self.on_event(event)
            if inspect.isawaitable(returned):
                await asyncio.wait_for(returned, self.timeout)
        except TimeoutError:
            self.fail(TimeoutError(f"on_event took longer than {self.timeout:g}s"))
        except Exception as error:  # noqa: BLE001 -- any callback error aborts the run
            self.fail(error)

    async def __call__(self, event: StreamEvent) -> None:
        """`deliver`, then `StreamAborted` if the callback ever raised."""
        await self.deliver(event)
        self.check()

    def held(self, call_id: str, pending: PendingApproval) -> None:
        """The dispatcher's ``on_held`` hook: it runs on the loop, mid-dispatch, so the
        event is delivered by a task (awaited by `outputs`, or `drop_pending`)."""
        task = asyncio.get_running_loop().create_task(
            self.deliver(AwaitingApproval(call_id, pending.email_id))
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def outputs(self, results: Sequence[ToolResult]) -> None:
        """Finish the approval events, then one `ToolOutputReady` per result."""
        if self._pending:
            await asyncio.gather(*self._pending)
        for result in results:
            await self.deliver(ToolOutputReady(result.call_id, result.name, result.ok))

    async def drop_pending(self) -> None:
        """Cancel and await the approval events still being delivered (the dispatch
        failed or was cancelled: nobody will read them)."""
        tasks = list(self._pending)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
