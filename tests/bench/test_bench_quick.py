"""The benchmark harness: its pure summaries on made-up numbers, and one tiny smoke run.

Nothing here asserts a timing: the figures belong to ``make bench``, not to the tests. The
smoke run checks the shape of what the harness writes, with counts too small to mean
anything.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import (
    approval_waits,
    approval_wakeup,
    concurrent_client,
    concurrent_runs,
    dispatch_in_process,
    dispatch_overhead,
    parallel_calls,
    requests_per_run,
    run,
)
from bench.baselines import Account
from bench.harness import Result, Row
from bench.report import build_report, markdown, result_files
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


def waits(variant: str, delay: float, latency: float, gets: int, n: int = 3) -> list[Any]:
    return [approval_waits.Wait(variant, delay, delay + 0.003, latency, gets) for _ in range(n)]


def test_approval_wakeup_rows_per_delay() -> None:
    rows = approval_wakeup.summarize_wakeup(
        waits(approval_wakeup.HUB, 3.0, 0.004, 0)
        + waits(approval_wakeup.POLL, 3.0, 1.6, 4)
        + waits(approval_wakeup.SEED, 3.0, 2.0, 1)
        + waits(approval_wakeup.HUB, 120.0, 0.003, 0)
        + waits(approval_wakeup.POLL, 120.0, 1.5, 17)
        + waits(approval_wakeup.SEED, 120.0, 2.4, 24)
    )
    assert [row.met for row in rows] == [True, False, True, True]
    assert all("(real time)" in row.benchmark for row in rows)
    assert rows[0].benchmark.startswith("approval wake-up, decided after 3 s")
    assert rows[0].ratio == pytest.approx(0.002)
    assert rows[0].library == "p50 4.00 ms (max 4.00 ms), 0 status GETs"
    assert rows[0].baseline == "p50 2.00 s (max 2.00 s), 1 status GET"
    assert rows[0].target == "p50 ≤ 50 ms, 0 status GETs"
    assert rows[1].note is not None
    assert "4 status GETs against the seed's 1" in rows[1].note
    assert (
        "at 0.5, 1.3, 2.6, 4.6, 7.9, 13.1, 21.5 s after the send, then every 10 s" in rows[1].note
    )
    assert rows[3].note is None


def test_approval_wakeup_misses_say_why() -> None:
    lucky = approval_waits.Wait(approval_wakeup.HUB, 30.0, 30.0, 0.004, 1)
    rows = approval_wakeup.summarize_wakeup(
        [
            *waits(approval_wakeup.HUB, 30.0, 0.080, 0),
            lucky,
            *waits(approval_wakeup.POLL, 30.0, 1.6, 8),
            *waits(approval_wakeup.SEED, 30.0, 0.37, 6),
        ]
    )
    hub, poll = rows
    assert (hub.met, poll.met) == (False, False)
    assert hub.note is not None
    assert "p50 80.0 ms" in hub.note
    assert "up to 1 status GETs" in hub.note
    assert "0 status GETs (0 to 1)" in hub.library
    assert poll.note is not None
    assert "between looks at 21.5 s and 31.5 s" in poll.note
    assert "the seed's 5 s grid divides 30 s, so one of its looks" in poll.note


def test_approval_wakeup_look_times_follow_the_policy() -> None:
    times = approval_wakeup.look_times(approval_wakeup.DEFAULT_POLICY, 3.0)
    assert times == pytest.approx([0.5, 1.3, 2.58, 4.628])
    later = approval_wakeup.look_times(approval_wakeup.DEFAULT_POLICY, 40.0)
    assert later[-2:] == pytest.approx([31.536288, 41.536288])


def side(cpu_s: float, rss: float, ends: dict[str, int], runs: int = 100, **extra: Any) -> Any:
    return concurrent_runs.Side(
        runs=runs,
        concurrency=extra.pop("concurrency", runs),
        ends=ends,
        lost=extra.pop("lost", 0),
        wall_s=extra.pop("wall_s", 10.0),
        cpu_s=cpu_s,
        max_rss_mb=rss,
        samples=extra.pop("samples", {}),
    )


def test_concurrent_runs_rows_all_met() -> None:
    rows = concurrent_runs.summarize_concurrent(
        side(2.0, 110.0, {"completed": 100}),
        side(2.5, 95.0, {"completed": 100}, concurrency=32, wall_s=20.0),
    )
    assert [row.met for row in rows] == [None, True, True, True]
    assert rows[0].library == "10.0 runs/s"
    assert rows[0].ratio == pytest.approx(0.5)  # time per run: library ÷ baseline
    assert "SDK helpers, 32 threads" in rows[0].baseline
    assert rows[1].ratio == pytest.approx(0.8)
    assert rows[3].library == "100/100 completed"
    assert all(row.note is None for row in rows)


def test_concurrent_runs_misses_say_why() -> None:
    at_once = side(
        30.0,
        300.0,
        {"completed": 90, "failed": 6, "error: APIConnectionError": 2},
        lost=2,
        samples={"failed": "the script could not fill turn 1", "error: APIConnectionError": "x"},
    )
    bounded = side(1.5, 90.0, {"completed": 100}, concurrency=32, wall_s=4.0)
    baseline = side(2.5, 95.0, {"completed": 100}, concurrency=32)
    rows = concurrent_runs.summarize_concurrent(at_once, baseline, bounded)
    assert [row.met for row in rows] == [None, False, False, False, None, None]
    assert rows[1].note is not None
    assert "100 runs in flight against the baseline's 32" in rows[1].note
    assert "≤ 32 in flight take 15.0 ms per run" in rows[1].note
    assert rows[2].note is not None
    assert "300 MB" in rows[2].note
    assert rows[3].library == (
        "90/100 completed (2 error: APIConnectionError, 6 failed, "
        "2 lost (no end within the timeout))"
    )
    assert rows[3].note is not None
    assert "e.g. error: APIConnectionError: x" in rows[3].note
    assert rows[4].benchmark == "100 runs, ≤ 32 in flight (semaphore): throughput"
    assert rows[4].library == "25.0 runs/s, 100/100 completed"
    assert rows[5].ratio == pytest.approx(0.6)
    assert at_once.as_dict()["cpu_ms_per_run"] == 300.0


def test_concurrent_runs_cpu_note_past_the_pool_size() -> None:
    at_once = dataclasses.replace(
        side(170.0, 220.0, {"completed": 1000}, runs=1000, wall_s=174.0), server_cpu_s=12.7
    )
    [_, cpu, *_] = concurrent_runs.summarize_concurrent(
        at_once, side(22.0, 117.0, {"completed": 1000}, runs=1000, concurrency=32)
    )
    assert cpu.note is not None
    assert "past 100 runs the OpenAI SDK's own pool" in cpu.note
    assert "CPU-bound (170.0 s of CPU in 174.0 s) while the sandbox used 12.7 s" in cpu.note
    assert "in flight take" not in cpu.note  # no bounded side was measured
    waiting = dataclasses.replace(at_once, wall_s=280.0)
    [_, cpu, *_] = concurrent_runs.summarize_concurrent(
        waiting, side(22.0, 117.0, {"completed": 1000}, runs=1000, concurrency=32)
    )
    assert cpu.note is not None
    assert "was busy 61% of the time (170.0 s of CPU in 280.0 s)" in cpu.note


def test_pooled_call_makes_the_seed_request_on_a_shared_client() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"emails": []})

    account = Account("http://mm.test", "mm_test_key", "mbx_1")
    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        call = concurrent_client.pooled_call(http)
        assert call(account, "check_inbox", {"direction": "inbound", "limit": 5}) == {"emails": []}
        call(account, "read_email", {"email_id": "em_1"})
    assert [str(r.url) for r in seen] == [
        "http://mm.test/v1/mailboxes/mbx_1/emails?direction=inbound&limit=5",
        "http://mm.test/v1/mailboxes/mbx_1/emails/em_1",
    ]
    assert seen[0].headers["Authorization"] == "Bearer mm_test_key"


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
    report = json.loads((tmp_path / "latest-quick.json").read_text("utf-8"))
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
    table = (tmp_path / "latest-quick.md").read_text("utf-8")
    assert "dispatch read_email, loopback" in table
    assert table in capsys.readouterr().out


def tiny_overhead(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``run`` know one benchmark, at counts too small to mean anything."""
    tiny = dispatch_overhead.OverheadConfig(calls=3, warmup=1, budget=5.0)
    bench = dataclasses.replace(dispatch_overhead.BENCHMARK, quick=tiny, full=tiny)
    monkeypatch.setattr(run, "BENCHMARKS", (bench,))


@pytest.mark.parametrize(
    ("argv", "written", "kept"),
    [
        pytest.param(["--quick"], "latest-quick", "latest", id="quick-keeps-the-full-run"),
        pytest.param([], "latest", "latest-quick", id="full-keeps-the-quick-run"),
    ],
)
def test_a_run_writes_only_its_own_mode_s_files(
    argv: list[str],
    written: str,
    kept: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The README cites the committed full run (latest.*): a quick run must not replace it.
    tiny_overhead(monkeypatch)
    for suffix in ("json", "md"):
        (tmp_path / f"{kept}.{suffix}").write_text("the other mode's results\n", "utf-8")

    assert run.main([*argv, "--only", "dispatch_overhead", "--out", str(tmp_path)]) == 0

    report = json.loads((tmp_path / f"{written}.json").read_text("utf-8"))
    assert report["mode"] == ("quick" if argv else "full")
    assert (tmp_path / f"{written}.md").read_text("utf-8").startswith("# mm-assistants benchmarks")
    for suffix in ("json", "md"):
        assert (tmp_path / f"{kept}.{suffix}").read_text("utf-8") == "the other mode's results\n"
    assert f"wrote {tmp_path / written}.json" in capsys.readouterr().err


REPO = Path(__file__).resolve().parents[2]


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout"
)
def test_make_bench_quick_leaves_git_status_clean() -> None:
    # `make bench-quick` runs `python -m bench.run --quick` with the default --out: what it
    # writes there is ignored by git, and the committed full run is left as it is.
    quick = result_files(run.RESULTS_DIR, quick=True)
    full = result_files(run.RESULTS_DIR, quick=False)
    for path in quick:
        assert git("check-ignore", "--quiet", str(path)).returncode == 0, f"{path} is not ignored"
        assert git("ls-files", "--error-unmatch", str(path)).returncode != 0, f"{path} is tracked"
    for path in full:
        assert git("ls-files", "--error-unmatch", str(path)).returncode == 0, f"{path} untracked"
    assert set(quick).isdisjoint(full)
