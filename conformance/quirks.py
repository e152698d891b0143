"""Known quirks: failures the suite shows as ``known`` with a reason instead of hiding them.

Each entry is ``(client, item) -> (sign, reason)``: a failure of ``item`` is known only when
its text contains ``sign`` (so a new, different failure of the same item still fails the
run); ``item`` may end in ``*`` to cover a prefix (schemathesis names operations
``METHOD /path``). Keep a reason short and factual: whose
document is wrong, or what the sandbox deliberately does not emulate and why. Remove an
entry when its cause is fixed (a stale entry is harmless to the exit code but misleads).
"""

from __future__ import annotations

from conformance.quirks_table import QUIRKS


def known(client: str, item: str, failure: str) -> str | None:
    """The quirk reason for ``client``'s ``item`` failing with ``failure``, else ``None``."""
    for (quirk_client, pattern), (sign, reason) in QUIRKS.items():
        if quirk_client != client or sign not in failure:
            continue
        if item == pattern or (pattern.endswith("*") and item.startswith(pattern[:-1])):
            return reason
    return None
