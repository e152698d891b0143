"""``python -m conformance [--quick] [--json FILE]``: the whole suite, its table, its verdict.

Prints one line per client and flow or tool (pass, FAIL, known quirk with its reason, skip with
why), the totals and the time; writes the same as JSON (default ``build/conformance.json``);
exits 1 when a failure is not a listed quirk (`conformance.quirks_table`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from conformance.report import exit_code, table, write_json
from conformance.suite import SIZES, run_suite

REPORT = Path(__file__).resolve().parents[1] / "build" / "conformance.json"


def main(argv: list[str] | None = None) -> int:
    """Run, print, write; the exit code says whether anything unexpected failed."""
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller schemathesis budget")
    parser.add_argument("--json", type=Path, default=REPORT, help="where the JSON report goes")
    options = parser.parse_args(argv)
    started = time.monotonic()
    results = run_suite(SIZES["quick" if options.quick else "full"])
    seconds = time.monotonic() - started
    print(table(results, width=160))
    print(f"took {seconds:.1f} s; JSON report: {options.json}")
    write_json(results, options.json, seconds)
    return exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
