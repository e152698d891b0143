"""``python -m bench.run [--quick] [--only NAME ...] [--out DIR]``: run the benchmarks.

Each selected benchmark runs on its own fresh sandbox; the results go to
``bench/results/latest.json`` and ``latest.md`` (``latest-quick.*`` with ``--quick``, which
git ignores; or into ``--out``), and the table is printed.
The exit status is 1 when a benchmark crashed, 0 otherwise: a missed target is a finding
for the table, not a failure of the run.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import (
    approval_wakeup,
    celery_fleet,
    concurrent_runs,
    dispatch_in_process,
    dispatch_overhead,
    fleet_resume,
    fleet_wakeup,
    fleet_watcher,
    parallel_calls,
    requests_per_run,
)
from bench.harness import Benchmark, Result, machine_info, run_benchmark
from bench.report import build_report, markdown, write

#: Every benchmark, in the order they run. A new one is one more entry here.
BENCHMARKS: tuple[Benchmark[Any], ...] = (
    dispatch_overhead.BENCHMARK,
    dispatch_in_process.BENCHMARK,
    parallel_calls.BENCHMARK,
    requests_per_run.BENCHMARK,
    approval_wakeup.BENCHMARK,
    concurrent_runs.BENCHMARK,
    fleet_wakeup.BENCHMARK,
    fleet_watcher.BENCHMARK,
    fleet_resume.BENCHMARK,
    celery_fleet.BENCHMARK,
)
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def select(names: Sequence[str] | None) -> list[Benchmark[Any]]:
    """The benchmarks called ``names`` (all when empty), in run order; ``ValueError`` on an
    unknown name."""
    known = {benchmark.name: benchmark for benchmark in BENCHMARKS}
    wanted = [name for given in names or () for name in given.split(",") if name]
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ValueError(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(known)}")
    return [benchmark for benchmark in BENCHMARKS if not wanted or benchmark.name in wanted]


def run_all(benchmarks: Sequence[Benchmark[Any]], *, quick: bool) -> list[Result]:
    """Run ``benchmarks`` one after the other, each on a fresh sandbox."""
    results = []
    for benchmark in benchmarks:
        print(f"running {benchmark.name} ({'quick' if quick else 'full'})...", file=sys.stderr)
        result = run_benchmark(benchmark, benchmark.config(quick))
        verdict = "error" if result.error else ("met" if result.met else "missed")
        print(f"  {benchmark.name}: {verdict} in {result.seconds:.1f} s", file=sys.stderr)
        results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, for CI")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only these (repeat, or a,b)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where results go")
    args = parser.parse_args(argv)
    try:
        benchmarks = select(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    results = run_all(benchmarks, quick=args.quick)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    report = build_report(results, quick=args.quick, machine=machine_info(), generated_at=now)
    json_path, md_path = write(report, args.out)
    print(markdown(report))
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 1 if any(result.error for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
