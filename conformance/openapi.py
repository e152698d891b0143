"""schemathesis with MultiMail's OpenAPI document against the sandbox, bounded.

Every operation the document lists gets up to ``max_examples`` generated requests (positive
cases, a fixed seed: a verdict must not depend on the draw), sent with the sandbox's admin
key to a loopback address only; each answer must pass three checks: no 5xx, a status the
document lists for that operation, and a body that matches the document's schema where it
defines one. A wall-clock cap stops starting new operations (those left are reported as
skipped, not passed). The deletions of the mailbox and the account run last (`LAST`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.quirks_table import TOLERATED_400
from conformance.report import Result

DOCUMENT = Path(__file__).resolve().parents[2] / "shared" / "reference" / "multimail-openapi.json"
CLIENT = "schemathesis"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Run last, in this order: with the seeded mailbox's id pinned the first deletes the
#: mailbox the others' requests use, the second the tenant behind the key.
LAST = ("DELETE /v1/mailboxes/{mailboxId}", "DELETE /v1/account")


def missing() -> str | None:
    """Why the OpenAPI run cannot happen here, or ``None`` when it can."""
    if not DOCUMENT.is_file():
        return f"{DOCUMENT} is missing (../shared is not next to the repository)"
    try:
        import schemathesis  # noqa: F401 -- only asking whether it is installed
    except ImportError:
        return "schemathesis is not installed (pip install 'mm-assistants[conformance]')"
    return None


def version() -> str:
    """The installed schemathesis version (for the report's client column)."""
    from importlib.metadata import version as installed

    return installed("schemathesis")


def run_openapi(
    base_url: str,
    api_key: str,
    *,
    max_examples: int = 5,
    wall_clock_s: float = 120.0,
    only: Collection[str] | None = None,
    path_values: Mapping[str, str] | None = None,
) -> list[Result]:
    """One `Result` per operation (``METHOD /path``), or one skipped result saying why.

    ``path_values`` pins path parameters by name (``mailboxId``, ``emailId``, ...) to ids
    that exist, so that requests reach past the 404 of a made-up id.
    """
    why = missing()
    if why is not None:
        return [Result(CLIENT, "-", "(all operations)", False, why, skipped=True)]
    if urlsplit(base_url).hostname not in LOOPBACK:
        raise ValueError(f"the conformance suite only calls loopback addresses, not {base_url}")
    import schemathesis
    from schemathesis.core.result import Ok

    schema = schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text("utf-8")))
    operations: dict[str, Any] = {}
    broken: list[Result] = []
    for found in schema.get_all_operations():
        if isinstance(found, Ok):
            operation = found.ok()
            operations[f"{operation.method.upper()} {operation.path}"] = operation
        else:  # an operation the document itself gets wrong: its own failed verdict
            error = found.err()
            item = f"{(error.method or '?').upper()} {error.path or '?'}"
            broken.append(
                Result(CLIENT, version(), item, False, f"invalid in the document: {error}")
            )
    names = [n for n in operations if only is None or n in only]
    # stable: the document's order otherwise
    names.sort(key=lambda name: LAST.index(name) + 1 if name in LAST else 0)
    deadline = time.monotonic() + wall_clock_s
    results = list(broken)
    for name in names:
        if time.monotonic() > deadline:
            reason = f"not started: the {wall_clock_s:.0f} s wall-clock cap was reached"
            results.append(Result(CLIENT, version(), name, False, reason, skipped=True))
            continue
        operation = operations[name]
        pinned = {
            parameter.name: path_values[parameter.name]
            for parameter in operation.path_parameters
            if path_values and parameter.name in path_values
        }
        results.append(_check(operation, name, base_url, api_key, max_examples, pinned))
    return results


def _check(
    operation: Any,
    name: str,
    base_url: str,
    api_key: str,
    max_examples: int,
    pinned: Mapping[str, str],
) -> Result:
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        response_schema_conformance,
        status_code_conformance,
    )

    headers = {"Authorization": f"Bearer {api_key}"}
    seen: list[int] = []
    tolerated: list[int] = []

    def status_code_documented(ctx: Any, response: Any, case: Any) -> bool | None:
        # The document's missing 400s (conformance.quirks_table.TOLERATED_400) are counted
        # and reported, not failed: failing would stop the operation at its first bad input
        # and leave its other answers unchecked.
        if response.status_code == 400 and _error_body(response):
            tolerated.append(400)
            return None
        result: bool | None = status_code_conformance(ctx, response, case)
        return result

    checks = [not_a_server_error, status_code_documented, response_schema_conformance]

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(path_parameters=dict(pinned) or None))
    def probe(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        seen.append(response.status_code)
        case.validate_response(response, checks=checks, headers=headers)

    started = time.monotonic()
    try:
        probe()
    # schemathesis raises a FailureGroup (a BaseExceptionGroup): any failure of one
    # operation is its verdict, only an interrupt stops the run.
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        reason = failure_text(exc)
        return Result(CLIENT, version(), name, False, reason, seconds=_since(started))
    statuses = ",".join(str(code) for code in sorted(set(seen)))
    note = f"statuses {statuses}"
    if tolerated and 400 not in documented_statuses(operation):
        note += f"; {len(tolerated)} undocumented 400s tolerated ({TOLERATED_400})"
    return Result(CLIENT, version(), name, True, note, seconds=_since(started))


def documented_statuses(operation: Any) -> set[int]:
    """The statuses the document lists for ``operation`` (``default`` and ranges left out)."""
    listed = operation.definition.raw.get("responses", {})
    return {int(code) for code in listed if str(code).isdigit()}


def _error_body(response: Any) -> bool:
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), str)


def failure_text(exc: BaseException) -> str:
    """schemathesis's failure report, without its reproduction recipe, on one line."""
    text = str(exc).split("Reproduce with:")[0]
    text = text.replace("Schemathesis found 1 distinct failure", "")
    return " ".join(text.split())[:400] or type(exc).__name__


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
