"""Pure statistics and number formatting for the benchmarks: no clocks, no I/O.

Example::

    summary = summarize([0.0011, 0.0012, 0.0050])
    summary.median, summary.p99          # 0.0012, 0.005
    fmt_seconds(summary.median)          # '1.20 ms'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """What the tables use of a list of timings (seconds): count, median, p99, min."""

    n: int
    median: float
    p99: float
    minimum: float

    def as_dict(self) -> dict[str, float | int]:
        """Seconds as microseconds, rounded: the JSON form."""
        return {
            "n": self.n,
            "median_us": round(self.median * 1e6, 1),
            "p99_us": round(self.p99 * 1e6, 1),
            "min_us": round(self.minimum * 1e6, 1),
        }


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``samples``.

    Nearest rank, not interpolation: the answer is always a timing that was measured.
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100], not {q!r}")
    ordered = sorted(samples)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def median(samples: Sequence[float]) -> float:
    """The median (the mean of the middle two for an even count)."""
    if not samples:
        raise ValueError("median of no samples")
    ordered = sorted(samples)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def summarize(samples: Sequence[float]) -> Summary:
    """The `Summary` of ``samples`` (seconds); raises ``ValueError`` when empty."""
    return Summary(
        n=len(samples),
        median=median(samples),
        p99=percentile(samples, 99),
        minimum=min(samples),
    )


def fmt_seconds(seconds: float) -> str:
    """A duration in the unit that reads best: ``'850 µs'``, ``'4.25 ms'``, ``'12.1 ms'``,
    ``'945 ms'``, ``'1.58 s'``."""
    magnitude = abs(seconds)
    if magnitude < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if magnitude < 1.0:
        decimals = 2 if magnitude < 0.01 else 1 if magnitude < 0.1 else 0
        return f"{seconds * 1e3:.{decimals}f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(ratio: float) -> str:
    """``1.0349`` -> ``'1.035x'``: three decimals, so a ratio just past its target never
    reads as equal to it."""
    return f"{ratio:.3f}x"


def fmt_limit(ratio: float) -> str:
    """A target ratio as written: ``1.1`` -> ``'1.1x'``."""
    return f"{ratio:g}x"
