"""Which parts of an answer are secrets, and the answer without them (pure).

A tool in `SECRET_FIELDS` may answer with a credential: a raw API key, a webhook's signing
secret, a signed billing link. `withhold` takes every field of such a name out of the
answer, at any depth (a gateway may wrap the answer in ``{"data": ...}``), and then
replaces each withheld value wherever else it appears, in text or as a key, with
``[withheld]``. `withhold_error` does the same for the refusal a failed call of such a
tool becomes (MultiMail's message and the other fields of its error body), and because
an error answer need not name its secret, it also blanks anything shaped like a
credential there. `mm_assistants.dispatch.handoff` hands the values to the operator.

>>> withhold("activate_account", {"status": "active", "api_key": "mm_live_abc123"})
({'status': 'active'}, {'api_key': 'mm_live_abc123'})
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from mm_assistants.dispatch.policy import Refusal

#: Tool -> the answer fields that hold a secret (MultiMail's name first; the others are
#: spellings an API version might use, withheld just the same), looked for at any depth.
SECRET_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "activate_account": ("api_key",),
    "create_api_key": ("api_key", "key"),
    # The HMAC key of webhook deliveries: whoever holds it can forge approvals and mail.
    "create_webhook": ("signing_secret", "secret"),
    "get_billing_portal": ("portal_url", "url"),
    "upgrade_plan": ("checkout_url", "url"),
}
#: What the model reads in a secret's place in a successful answer.
WITHHELD: Final[Mapping[str, str]] = {
    "withheld": "handed to the operator by the client library; never shown to a model"
}
#: What the model reads in a secret's place in an error answer (not handed over: an error
#: that carries a secret is malformed, and its value is not worth a success's trust).
WITHHELD_IN_ERROR: Final[Mapping[str, str]] = {
    "withheld": "a secret in an error answer; never shown to a model"
}
SCRUBBED: Final = "[withheld]"
#: Text shaped like a credential (MultiMail API keys, webhook secrets, links): blanked in
#: the error answers of a secret-bearing tool, where no field name says what is secret.
CREDENTIAL_SHAPES: Final = re.compile(
    r"\b(?:mm_(?:live|test)_|whsec_)[A-Za-z0-9_\-]+|\bhttps?://[^\s\"'<>]+"
)
#: Shorter text inside a structured secret is not searched for elsewhere in the answer
#: (a prefix like "mm_live" is public, and blanking every "id" would ruin the answer).
_MIN_PART_CHARS = 8


def carries_secrets(tool: str) -> bool:
    """True when ``tool``'s answer may hold a secret the model must not read."""
    return tool in SECRET_FIELDS


def as_text(value: Any) -> str:
    """A withheld value as the operator gets it: a string unchanged, anything else as
    JSON (``{"value": "..."}``, never Python's ``{'value': '...'}``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def withhold(tool: str, data: Any) -> tuple[Any, dict[str, str]]:
    """``data`` without ``tool``'s secret fields (and without their values anywhere else
    in it), and the withheld values by field.

    A top-level field is removed (the dispatcher marks it in plain view after shaping, see
    `mark_withheld`); a nested one is replaced in place by the `WITHHELD` marker and named
    by its path (``data.api_key``, ``keys[0].api_key``).
    """
    names = SECRET_FIELDS.get(tool, ())
    if not names:
        return data, {}
    found: dict[str, Any] = {}
    rest = _take(data, names, "", found, WITHHELD)
    if not found:
        return data, {}
    return _scrub(rest, _targets(found.values())), {k: as_text(v) for k, v in found.items()}


def withhold_error(tool: str, refusal: Refusal) -> Refusal:
    """``refusal`` (a failed call of ``tool``) with its secret fields replaced by a marker
    and their values, and anything shaped like a credential, blanked in its message and
    details. Unchanged for a tool without secrets."""
    names = SECRET_FIELDS.get(tool, ())
    if not names:
        return refusal
    found: dict[str, Any] = {}
    details = [
        _take(detail, names, f"details[{i}]", found, WITHHELD_IN_ERROR)  # marked in place
        for i, detail in enumerate(refusal.details)
    ]
    targets = _targets(found.values())
    return Refusal(
        refusal.type,
        _scrub(refusal.message, targets, shapes=True),
        _scrub(details, targets, shapes=True),
    )


def mark_withheld(shaped: Any, withheld: Mapping[str, str]) -> Any:
    """The shaped output with a marker, in plain view, where each top-level withheld field
    was (nested ones already hold theirs)."""
    top = [name for name in withheld if "." not in name and "[" not in name]
    if not top or not isinstance(shaped, dict):
        return shaped
    return {**shaped, **{name: dict(WITHHELD) for name in top}}


def _take(
    value: Any, names: tuple[str, ...], path: str, found: dict[str, Any], marker: Mapping[str, str]
) -> Any:
    """``value`` with each field named in ``names`` taken out into ``found`` (by path): at
    the top of ``value`` removed, deeper replaced by ``marker``."""
    if isinstance(value, Mapping):
        kept: dict[Any, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in names and item is not None:
                found[where] = item
                if path:
                    kept[key] = dict(marker)
                continue
            kept[key] = _take(item, names, where, found, marker)
        return kept
    if isinstance(value, list):
        return [_take(item, names, f"{path}[{i}]", found, marker) for i, item in enumerate(value)]
    return value


def _targets(values: Any) -> tuple[str, ...]:
    """The text to blank elsewhere: each string secret, and the longer strings inside a
    structured one, longest first (so a secret containing another is blanked whole)."""
    texts: set[str] = set()
    for value in values:
        if isinstance(value, str):
            texts.update((value,) if value else ())
        else:
            texts.update(part for part in _strings(value) if len(part) >= _MIN_PART_CHARS)
    return tuple(sorted(texts, key=len, reverse=True))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _scrub(value: Any, secrets: tuple[str, ...], *, shapes: bool = False) -> Any:
    """``value`` with every secret blanked in its strings, keys included."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, SCRUBBED)
        return CREDENTIAL_SHAPES.sub(SCRUBBED, value) if shapes else value
    if isinstance(value, Mapping):
        return {
            _scrub(key, secrets, shapes=shapes): _scrub(item, secrets, shapes=shapes)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item, secrets, shapes=shapes) for item in value]
    return value


__all__ = [
    "CREDENTIAL_SHAPES",
    "SCRUBBED",
    "SECRET_FIELDS",
    "WITHHELD",
    "WITHHELD_IN_ERROR",
    "as_text",
    "carries_secrets",
    "mark_withheld",
    "withhold",
    "withhold_error",
]
