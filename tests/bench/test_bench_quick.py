"""The benchmark harness: its pure summaries on made-up numbers, and one tiny smoke run.

Nothing here asserts a timing: the figures belong to ``make bench``, not to the tests. The
smoke run checks the shape of what the harness writes, with counts too small to mean
anything.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from bench import dispatch_in_process, dispatch_overhead, parallel_calls, requests_per_run, run
from bench.harness import Result, Row
from bench.report import build_report, markdown
from bench.stats import Summary, fmt_limit, fmt_ratio, fmt_seconds, median, percentile, summarize
from bench.timing import bounded

MACHINE = {"cpu_count": 2, "python": "3.11.7", "platform": "Linux", "sandbox": "in-process"}


def timings(median_s: float, p99_s: float | None = None) -> Summary:
    return Summary(n=100, median=median_s, p99=p99_s or median_s * 2, minimum=median_s / 2)


# -- stats -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        pytest.param(50, 5.0, id="p50"),
        pytest.param(99, 10.0, id="p99-of-ten-is-the-largest"),
        pytest.param(10, 1.0, id="p10"),
        pytest.param(100, 10.0, id="p100"),
    ],
)
def test_percentile_is_nearest_rank(q: float, expected: float) -> None:
    assert percentile([float(n) for n in range(10, 0, -1)], q) == expected


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5


@pytest.mark.parametrize("call", [median, lambda s: percentile(s, 99), summarize])
def test_no_samples_is_an_error(call: Any) -> None:
    with pytest.raises(ValueError, match="no samples"):
        call([])


def test_summarize_and_its_json_form() -> None:
    summary = summarize([0.001] * 98 + [0.002, 0.010])
    assert (summary.n, summary.median, summary.p99, summary.minimum) == (100, 0.001, 0.002, 0.001)
    assert summary.as_dict() == {"n": 100, "median_us": 1000.0, "p99_us": 2000.0, "min_us": 1000.0}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0.000_85, "850 µs", id="micro"),
        pytest.param(0.004_25, "4.25 ms", id="milli-small"),
        pytest.param(0.012_1, "12.1 ms", id="milli"),
        pytest.param(0.945_3, "945 ms", id="milli-large"),
        pytest.param(1.578, "1.58 s", id="seconds"),
    ],
)
def test_fmt_seconds(seconds: float, text: str) -> None:
    assert fmt_seconds(seconds) == text


def test_ratios_show_three_decimals_and_targets_as_written() -> None:
    assert fmt_ratio(1.1035) == "1.103x"  # just past a 1.1x target: it must not read 1.10x
    assert fmt_limit(1.1) == "1.1x"


def test_bounded_stops_at_the_count_or_the_budget() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # every look at the clock is a second later
        return now[0]

    assert list(bounded(3, budget=100.0, clock=clock)) == [0, 1, 2]
    now[0] = 0.0
    assert list(bounded(100, budget=2.5, clock=clock)) == [0, 1, 2]
    assert list(bounded(5, budget=0.0)) == [0]  # one sample, always


# -- the summarising functions -----------------------------------------------------------------


def test_dispatch_overhead_row_within_target() -> None:
    row = dispatch_overhead.summarize_pair("read_email", timings(0.00105), timings(0.001))
    assert row.met is True
    assert row.ratio == pytest.approx(1.05)
    assert row.note is None
    assert "+50 µs" in row.library
    assert row.target == "≤ 1.1x"


def test_dispatch_overhead_row_missed_says_why() -> None:
    row = dispatch_overhead.summarize_pair("send_email", timings(0.0015), timings(0.001))
    assert row.met is False
    assert row.note is not None
    assert "500 µs" in row.note


def test_in_process_row_names_the_largest_parts_first() -> None:
    parts = {"prepare": 40e-6, "succeed": 30e-6, "audit": 10e-6, "client": 50e-6}
    row = dispatch_in_process.summarize_in_process(
        "send_email", timings(300e-6), timings(180e-6), parts
    )
    assert row.met is False
    assert row.note is not None
    assert row.note.index("MultiMailClient.send") < row.note.index("prepare")
    assert row.library.startswith("+120 µs")
    met = dispatch_in_process.summarize_in_process(
        "read_email", timings(200e-6), timings(180e-6), {}
    )
    assert met.met is True
    assert met.note is None


def test_parallel_rows() -> None:
    first, second = parallel_calls.summarize_parallel(
        timings(0.100), timings(0.120), timings(0.800), calls=8, max_concurrency=8
    )
    assert (first.met, second.met) == (True, True)
    assert first.ratio == pytest.approx(1.2)
    assert second.ratio == pytest.approx(0.15)
    assert "6.7x faster" in second.library
    slow, slower = parallel_calls.summarize_parallel(
        timings(0.100), timings(0.400), timings(0.800), calls=8, max_concurrency=2
    )
    assert (slow.met, slower.met) == (False, False)
    assert slow.note is not None
    assert "max_concurrency=2" in slow.note


def runs(requests: int, seconds: float) -> requests_per_run.Runs:
    return requests_per_run.Runs(requests=[requests] * 3, seconds=[seconds] * 3)


def test_requests_per_run_rows() -> None:
    rows = requests_per_run.summarize_runs(
        {
            requests_per_run.POLL: runs(10, 1.6),
            requests_per_run.STREAM: runs(3, 0.9),
            requests_per_run.SDK: runs(10, 3.1),
            requests_per_run.SEED: runs(7, 3.1),
        },
        model_latency=0.3,
    )
    assert [row.met for row in rows] == [True, False, True, None, None]
    assert rows[1].note is not None
    assert "3.3 requests per model turn" in rows[1].note
    assert rows[0].ratio == pytest.approx(0.3)
    assert [row.target for row in rows[3:]] == [None, None]


def test_requests_per_run_all_met() -> None:
    rows = requests_per_run.summarize_runs(
        {
            requests_per_run.POLL: runs(6, 1.0),
            requests_per_run.STREAM: runs(4, 0.9),
            requests_per_run.SDK: runs(10, 3.1),
            requests_per_run.SEED: runs(7, 3.1),
        },
        model_latency=0.3,
    )
    assert all(row.met is not False for row in rows)
    assert all(row.note is None for row in rows)


# -- results and the report --------------------------------------------------------------------


def result(name: str, *rows: Row, error: str | None = None) -> Result:
    return Result(name, name.title(), rows, {"x": 1}, 1.0, {"calls": 3}, error)


GOOD = Row("a", "1 ms", "1 ms", 1.0, "≤ 1.10x", True)
BAD = Row("b | pipe", "2 ms", "1 ms", 2.0, "≤ 1.10x", False, "too slow")
CONTEXT = Row("c", "1 s", "2 s", 0.5, None, None)


def test_result_met_target_and_note() -> None:
    assert result("ok", GOOD, CONTEXT).met is True
    assert result("ok", GOOD, CONTEXT).note is None
    missed = result("missed", GOOD, BAD)
    assert missed.met is False
    assert missed.note == "b | pipe: too slow"
    assert missed.target == "a: ≤ 1.10x; b | pipe: ≤ 1.10x"
    crashed = result("crashed", error="RuntimeError: boom")
    assert crashed.met is False
    assert crashed.note is not None
    assert "boom" in crashed.note


def test_report_and_markdown() -> None:
    report = build_report(
        [result("first", GOOD, BAD, CONTEXT), result("second", error="RuntimeError: boom")],
        quick=True,
        machine=MACHINE,
        generated_at="2026-01-01T00:00:00+00:00",
    )
    assert report["mode"] == "quick"
    assert report["all_met"] is False
    assert [bench["met"] for bench in report["benchmarks"]] == [False, False]
    json.dumps(report)  # JSON-ready
    text = markdown(report)
    assert "| benchmark | library | baseline | ratio | target | met |" in text
    assert "| a | 1 ms | 1 ms | 1.000x | ≤ 1.10x | yes |" in text
    assert "| b \\| pipe | 2 ms | 1 ms | 2.000x | ≤ 1.10x | **no** |" in text
    assert "| c | 1 s | 2 s | 0.500x | — | — |" in text
    assert "| second | — | — | — | — | error |" in text
    assert "- **b | pipe**: too slow" in text


def test_select_by_name() -> None:
    names = [b.name for b in run.select(["parallel_calls,dispatch_overhead"])]
    assert names == ["dispatch_overhead", "parallel_calls"]  # run order, not asked order
    assert len(run.select(None)) == len(run.BENCHMARKS)
    with pytest.raises(ValueError, match="unknown benchmark nope"):
        run.select(["nope"])


# -- a tiny smoke run ----------------------------------------------------------------------------


def test_smoke_run_writes_the_json_and_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = dispatch_overhead.OverheadConfig(calls=3, warmup=1, budget=5.0)
    bench = dataclasses.replace(dispatch_overhead.BENCHMARK, quick=tiny)
    monkeypatch.setattr(run, "BENCHMARKS", (bench,))

    status = run.main(["--quick", "--only", "dispatch_overhead", "--out", str(tmp_path)])

    assert status == 0
    report = json.loads((tmp_path / "latest.json").read_text("utf-8"))
    assert set(report) == {"generated_at", "mode", "machine", "all_met", "benchmarks"}
    assert {"cpu_count", "python", "platform"} <= set(report["machine"])
    [bench_json] = report["benchmarks"]
    assert bench_json["error"] is None
    assert bench_json["config"] == {"calls": 3, "warmup": 1, "budget": 5.0}
    assert {"name", "title", "met", "target", "note", "seconds", "rows", "numbers"} <= set(
        bench_json
    )
    assert isinstance(bench_json["met"], bool)
    for row in bench_json["rows"]:
        assert set(row) == {"benchmark", "library", "baseline", "ratio", "target", "met", "note"}
        assert isinstance(row["ratio"], float)
        assert isinstance(row["met"], bool)
    for tool in ("send_email", "read_email"):
        numbers = bench_json["numbers"][tool]
        assert numbers["library"]["n"] == numbers["baseline"]["n"] == 3
        assert {"median_us", "p99_us"} <= set(numbers["library"])
    table = (tmp_path / "latest.md").read_text("utf-8")
    assert "dispatch read_email, loopback" in table
    assert table in capsys.readouterr().out
