"""The suite's verdicts: a `Result` per client and flow or tool; a table, JSON, an exit code.

A failure listed in `conformance.quirks.QUIRKS` is *known* (shown with its reason, not
counted against the run); any other failure makes `exit_code` 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from conformance.quirks import known


@dataclass(frozen=True)
class Result:
    """One verdict: ``client`` (name), ``version``, ``item`` (a tool or a flow), and why."""

    client: str
    version: str
    item: str
    passed: bool
    reason: str = ""
    skipped: bool = False
    seconds: float = 0.0

    @property
    def quirk(self) -> str | None:
        """The known-quirk reason when this is a listed failure, else ``None``."""
        return None if self.passed or self.skipped else known(self.client, self.item, self.reason)

    @property
    def verdict(self) -> str:
        """``pass``, ``skip``, ``known`` (a listed quirk) or ``FAIL``."""
        if self.passed:
            return "pass"
        if self.skipped:
            return "skip"
        return "known" if self.quirk else "FAIL"


def totals(results: Iterable[Result]) -> dict[str, int]:
    """How many of each verdict."""
    counts = {"pass": 0, "FAIL": 0, "known": 0, "skip": 0}
    for result in results:
        counts[result.verdict] += 1
    return counts


def exit_code(results: Iterable[Result]) -> int:
    """1 when any failure is not a listed quirk, else 0."""
    return 1 if totals(results)["FAIL"] else 0


def table(results: Sequence[Result], width: int = 100) -> str:
    """The printable report: one line per verdict, then the totals."""
    lines = [f"{'client':<28} {'flow/tool':<34} verdict  reason", "-" * width]
    for r in results:
        why = " ".join((r.quirk or r.reason).split())
        line = f"{r.client + ' ' + r.version:<28} {r.item:<34} {r.verdict:<8} {why}"
        lines.append(line[:width] if len(line) > width else line)
    counts = totals(results)
    lines.append("-" * width)
    lines.append(
        f"{len(results)} checks: {counts['pass']} pass, {counts['FAIL']} fail, "
        f"{counts['known']} known quirks, {counts['skip']} skipped"
    )
    return "\n".join(lines)


def write_json(results: Sequence[Result], path: Path, seconds: float) -> None:
    """``build/conformance.json``: every verdict (with its quirk), totals, the run's time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(r), "verdict": r.verdict, "quirk": r.quirk} for r in results]
    document = {"seconds": round(seconds, 1), "totals": totals(results), "results": rows}
    path.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
