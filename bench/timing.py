"""The timing loops the benchmarks share; every loop is bounded in count and in time.

Example::

    library, baseline = time_pair(lambda i: lib_call(i), lambda i: hand_call(i),
                                  calls=300, warmup=20, budget=25.0)
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator

Call = Callable[[int], object]


def bounded(
    count: int, budget: float, clock: Callable[[], float] = time.monotonic
) -> Iterator[int]:
    """``0, 1, ... count - 1``, cut short once ``budget`` seconds have passed.

    The first index always comes, so a loop yields at least one sample.
    """
    deadline = clock() + budget
    for index in range(count):
        if index and clock() >= deadline:
            return
        yield index


def time_call(call: Call, index: int) -> float:
    """Seconds one ``call(index)`` takes."""
    started = time.perf_counter()
    call(index)
    return time.perf_counter() - started


def time_pair(
    library: Call, baseline: Call, *, calls: int, warmup: int, budget: float
) -> tuple[list[float], list[float]]:
    """Per-call timings of ``library(i)`` and ``baseline(i)``, interleaved.

    Interleaving, and swapping which goes first on every round, spreads drift (a database
    that grows, a CPU that warms) evenly over both sides. ``warmup`` untimed rounds open
    connections and fill caches first. Indexes are distinct across warm-up and timed rounds,
    so a call id is never reused.
    """
    for index in range(warmup):
        library(index)
        baseline(index)
    gc.collect()
    library_times: list[float] = []
    baseline_times: list[float] = []
    for index in bounded(calls, budget):
        first, second = (library, baseline) if index % 2 == 0 else (baseline, library)
        first_time = time_call(first, warmup + index)
        second_time = time_call(second, warmup + index)
        if first is library:
            library_times.append(first_time)
            baseline_times.append(second_time)
        else:
            library_times.append(second_time)
            baseline_times.append(first_time)
    return library_times, baseline_times


def time_each(call: Call, *, calls: int, warmup: int, budget: float) -> list[float]:
    """Per-call timings of ``call(i)`` alone (after ``warmup`` untimed calls)."""
    for index in range(warmup):
        call(index)
    gc.collect()
    return [time_call(call, warmup + index) for index in bounded(calls, budget)]
