"""The results as JSON (``latest.json``) and as a Markdown table (``latest.md``); a quick run
writes ``latest-quick.json`` and ``latest-quick.md`` instead.

`build_report` and `markdown` are pure: the same results give the same text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.harness import Result
from bench.stats import fmt_ratio

COLUMNS = ("benchmark", "library", "baseline", "ratio", "target", "met")


def build_report(
    results: Sequence[Result], *, quick: bool, machine: Mapping[str, Any], generated_at: str
) -> dict[str, Any]:
    """The JSON document: machine, mode and every benchmark's figures."""
    return {
        "generated_at": generated_at,
        "mode": "quick" if quick else "full",
        "machine": dict(machine),
        "all_met": all(result.met for result in results),
        "benchmarks": [result.as_dict() for result in results],
    }


def markdown(report: Mapping[str, Any]) -> str:
    """The report as a Markdown table, one line per row, then the notes of missed targets."""
    machine = report["machine"]
    lines = [
        f"# mm-assistants benchmarks ({report['mode']}, {report['generated_at']})",
        "",
        f"Python {machine.get('python')} on {machine.get('platform')}, "
        f"{machine.get('cpu_count')} CPUs; sandbox {machine.get('sandbox')}. "
        "Ratio = library ÷ baseline, measured in the same run.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    notes = []
    for bench in report["benchmarks"]:
        if bench["error"] is not None:
            lines.append(f"| {bench['name']} | — | — | — | {bench['target'] or '—'} | error |")
            notes.append(f"- **{bench['name']}**: {bench['note']}")
            continue
        for row in bench["rows"]:
            ratio = "—" if row["ratio"] is None else fmt_ratio(row["ratio"])
            cells = (
                row["benchmark"],
                row["library"],
                row["baseline"],
                ratio,
                row["target"] or "—",
                _met(row["met"]),
            )
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
            if row["met"] is False and row["note"]:
                notes.append(f"- **{row['benchmark']}**: {row['note']}")
    if notes:
        lines += ["", "Targets missed, and what limits them:", "", *notes]
    return "\n".join(lines) + "\n"


def result_files(out_dir: Path, *, quick: bool) -> tuple[Path, Path]:
    """Where a run's JSON and Markdown go in ``out_dir``: ``latest.*`` for a full run,
    ``latest-quick.*`` for a quick one.

    The committed ``bench/results/latest.*`` is the full run the README cites; a quick run
    (CI, ``make bench-quick``) writes beside it, to files git ignores, so it never
    replaces the full figures nor leaves a change to commit.
    """
    stem = "latest-quick" if quick else "latest"
    return out_dir / f"{stem}.json", out_dir / f"{stem}.md"


def write(report: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write the report's JSON and Markdown into ``out_dir`` (names from `result_files`,
    by the report's mode); their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = result_files(out_dir, quick=report["mode"] == "quick")
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    md_path.write_text(markdown(report), "utf-8")
    return json_path, md_path


def _met(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "—"}[met]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
