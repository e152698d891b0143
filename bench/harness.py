"""The benchmark contract and its runner: a fresh loopback sandbox per benchmark.

A benchmark is a `Benchmark` value: a name, a quick and a full configuration, the
`Sandbox` options it needs and a ``measure(sandbox, config)`` that times its loops and
returns `Measured` (table rows plus the raw numbers). Each module keeps its summarising
function (numbers -> rows) pure and apart from the timing loop, so tests can feed it
made-up numbers. `run_benchmark` starts the sandbox, runs ``measure`` and turns a crash into
a failed `Result` instead of losing the other benchmarks' figures.

A new benchmark (approval wake-up, concurrent runs) is one more module exposing a
`Benchmark` and one more entry in ``bench.run.BENCHMARKS``.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from mm_assistants import AssistantsSunsetWarning, __version__
from mm_assistants.sandbox import Sandbox

ConfigT = TypeVar("ConfigT")


@dataclass(frozen=True)
class Row:
    """One line of the results table.

    ``ratio`` is always library ÷ baseline (time or requests), so below 1 is better.
    ``target`` is ``None`` for a row shown for context only; ``met`` is then ``None`` too.
    ``note`` says what limits the figure when the target is missed.
    """

    benchmark: str
    library: str
    baseline: str
    ratio: float | None
    target: str | None
    met: bool | None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        data = dataclasses.asdict(self)
        data["ratio"] = None if self.ratio is None else round(self.ratio, 4)
        return data


@dataclass(frozen=True)
class Measured:
    """What ``measure`` hands back: its rows and the numbers behind them."""

    rows: tuple[Row, ...]
    numbers: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Benchmark(Generic[ConfigT]):
    """One benchmark: how to size it, what sandbox it needs, how to measure it."""

    name: str
    title: str
    quick: ConfigT
    full: ConfigT
    sandbox_options: Callable[[ConfigT], Mapping[str, Any]]
    measure: Callable[[Sandbox, ConfigT], Measured]

    def config(self, quick: bool) -> ConfigT:
        """The configuration of a quick or a full run."""
        return self.quick if quick else self.full


@dataclass(frozen=True)
class Result:
    """How one benchmark went: its rows, numbers, wall time, or the error that ended it."""

    name: str
    title: str
    rows: tuple[Row, ...]
    numbers: Mapping[str, Any]
    seconds: float
    config: Mapping[str, Any]
    error: str | None = None

    @property
    def met(self) -> bool:
        """Every row with a target met it (and nothing crashed)."""
        if self.error is not None:
            return False
        return all(row.met for row in self.rows if row.target is not None)

    @property
    def target(self) -> str:
        """The targets of the rows that have one."""
        return "; ".join(f"{row.benchmark}: {row.target}" for row in self.rows if row.target)

    @property
    def note(self) -> str | None:
        """What limits the missed rows (or the error), ``None`` when all were met."""
        if self.error is not None:
            return f"the benchmark did not finish: {self.error}"
        missed = [f"{row.benchmark}: {row.note}" for row in self.rows if row.met is False]
        return " | ".join(missed) or None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "name": self.name,
            "title": self.title,
            "met": self.met,
            "target": self.target,
            "note": self.note,
            "seconds": round(self.seconds, 2),
            "config": dict(self.config),
            "rows": [row.as_dict() for row in self.rows],
            "numbers": dict(self.numbers),
            "error": self.error,
        }


def run_benchmark(benchmark: Benchmark[ConfigT], config: ConfigT) -> Result:
    """Run ``benchmark`` on a fresh loopback sandbox; an exception becomes a failed result."""
    started = time.perf_counter()
    rows: tuple[Row, ...] = ()
    numbers: Mapping[str, Any] = {}
    error = None
    try:
        with quiet_assistants_warnings(), Sandbox(**benchmark.sandbox_options(config)) as sandbox:
            measured = benchmark.measure(sandbox, config)
        rows, numbers = measured.rows, measured.numbers
    except Exception as exc:  # noqa: BLE001 -- one broken benchmark must not hide the others' figures
        error = f"{type(exc).__name__}: {exc}"
    return Result(
        name=benchmark.name,
        title=benchmark.title,
        rows=rows,
        numbers=numbers,
        seconds=time.perf_counter() - started,
        config=_plain(config),
        error=error,
    )


@contextmanager
def quiet_assistants_warnings() -> Iterator[None]:
    """Silence the SDK's per-call Assistants deprecation warnings and the library's sunset
    warning: the sandbox serves the Assistants API on purpose."""
    with warnings.catch_warnings():
        for text in ("The Assistants API is deprecated", "deprecated$"):
            warnings.filterwarnings("ignore", message=text, category=DeprecationWarning)
        warnings.simplefilter("ignore", AssistantsSunsetWarning)
        yield


def machine_info() -> dict[str, Any]:
    """Where the figures were measured."""
    import httpx
    import openai

    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "mm_assistants": __version__,
        "httpx": httpx.__version__,
        "openai": openai.__version__,
        "sandbox": "in-process (uvicorn thread), 127.0.0.1",
    }


def _plain(config: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return {"value": repr(config)}
