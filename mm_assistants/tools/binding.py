"""Bind validated tool arguments to a `RequestSpec` (pure: no I/O).

The generic rule fills path placeholders, then puts each remaining non-null argument in
the query or the body as the `Endpoint` lists it. Every placeholder value is checked by
`mm_assistants.tools.ids` before it is percent-encoded: encoding keeps a ``/`` inside its
segment, but a ``..`` would still be collapsed on the way and reach another endpoint.

Two tools need more than the table: ``tag_email`` (its ``action`` picks method and path,
its key/value pairs become an object) and ``wait_for_email`` (its ``filter`` becomes query
parameters, its timeout stays local).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from mm_assistants.tools.endpoints import Endpoint
from mm_assistants.tools.ids import path_value_problem
from mm_assistants.tools.request import RequestSpec

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: Arguments the dispatcher consumes itself; they never reach MultiMail.
LOCAL_ARGUMENTS = frozenset({"timeout_seconds"})


class ToolArgumentError(ValueError):
    """Arguments that pass the schema but cannot form a request.

    The message is written for the model that sent them: it says what to change.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def bind_request(
    name: str,
    endpoint: Endpoint,
    arguments: Mapping[str, Any],
    *,
    default_mailbox: str | None = None,
) -> RequestSpec:
    """The request for ``arguments`` (already schema-valid) of tool ``name``.

    ``null`` arguments are dropped. A mailbox-scoped tool without ``mailbox_id`` takes
    ``default_mailbox``; with neither, `ToolArgumentError` says what is missing. A path
    value that is empty, a dot segment or not plausible for its kind is a
    `ToolArgumentError` naming the argument; a bad ``default_mailbox`` is the caller's
    misconfiguration, a plain `ValueError`.
    """
    args = {key: value for key, value in arguments.items() if value is not None}
    if endpoint.mailbox_scoped and "mailbox_id" not in args:
        if default_mailbox is None:
            raise ToolArgumentError(
                "mailbox_id is required: pass the id of the mailbox to use "
                "(no default mailbox is configured)",
                field="mailbox_id",
            )
        check_default_mailbox(default_mailbox)
        args["mailbox_id"] = default_mailbox
    special = _SPECIAL_BINDERS.get(name)
    if special is not None:
        method, path, args = special(endpoint, args)
    else:
        method, path = endpoint.method, endpoint.path
    return _assemble(name, endpoint, method, path, args)


def _assemble(
    name: str, endpoint: Endpoint, method: str, path: str, args: dict[str, Any]
) -> RequestSpec:
    used: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        used.add(key)
        value = args.get(key)
        problem = "is required" if value is None else path_value_problem(key, value)
        if problem is not None:
            raise ToolArgumentError(f"{key} {problem}", field=key)
        return quote(str(value), safe="")  # safe="": a "/" in a tag key is data, not a separator

    filled = _PLACEHOLDER.sub(fill, path)
    params: dict[str, str] = {}
    body: dict[str, Any] = {}
    for key, value in args.items():
        if key in used or key in LOCAL_ARGUMENTS:
            continue
        wire = endpoint.renames.get(key, key)
        if key in endpoint.query:
            params[wire] = _query_value(value)
        elif key in endpoint.body:
            body[wire] = value
        elif key == "mailbox_id":
            continue  # a mailbox tool whose path this method does not use
        else:
            raise ToolArgumentError(f"{name} does not take the argument {key!r}", field=key)
    has_body = method in ("POST", "PUT", "PATCH")
    if has_body:
        body.update(endpoint.constants)  # after the arguments: a model cannot override one
    json = body if has_body else None
    retry_safe = endpoint.idempotent or bool(has_body and body.get("idempotency_key"))
    return RequestSpec(
        tool=name, method=method, path=filled, params=params, json=json, retry_safe=retry_safe
    )


def check_default_mailbox(mailbox_id: object) -> None:
    """Raise `ValueError` unless ``mailbox_id`` can be a configured default mailbox.

    The default comes from the caller's configuration, not from the model, so a bad one
    fails loudly (``Dispatcher(mailbox_id="..")`` at construction) instead of becoming an
    output the model cannot act on.
    """
    problem = path_value_problem("mailbox_id", mailbox_id)
    if problem is not None:
        raise ValueError(f"the default mailbox_id {problem}; pass the id of a MultiMail mailbox")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_Special = Callable[[Endpoint, dict[str, Any]], "tuple[str, str, dict[str, Any]]"]


def _bind_tag_email(endpoint: Endpoint, args: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    action = args.pop("action")
    pairs = args.pop("tags", None)
    key = args.pop("key", None)
    if action == "set":
        if not pairs:
            raise ToolArgumentError(
                "tags is required when action is 'set': give a list of {key, value} pairs",
                field="tags",
            )
        tags: dict[str, str] = {}
        for pair in pairs:
            tags[pair["key"]] = pair["value"]  # a later pair for the same key wins
        args["tags"] = tags
        return "PUT", endpoint.path, args
    if action == "get":
        return "GET", endpoint.path, args
    if not key:
        raise ToolArgumentError(
            "key is required when action is 'delete': name the tag key to remove", field="key"
        )
    args["key"] = key
    return "DELETE", endpoint.path + "/{key}", args


def _bind_wait_for_email(
    endpoint: Endpoint, args: dict[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    criteria = args.pop("filter", None) or {}
    for key in ("sender", "subject_contains"):
        if criteria.get(key) is not None:
            args[key] = criteria[key]
    return endpoint.method, endpoint.path, args


_SPECIAL_BINDERS: Mapping[str, _Special] = {
    "tag_email": _bind_tag_email,
    "wait_for_email": _bind_wait_for_email,
}
