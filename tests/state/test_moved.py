"""The stores' old import paths keep working: a moved module warns and gives the same
object; a package that still offers a store name as its API re-exports it silently."""

from __future__ import annotations

import importlib
import warnings

import pytest

import mm_assistants
from mm_assistants import approvals, state, webhooks

WARNS = [
    pytest.param("mm_assistants.approvals.sqlite_store", "SQLitePendingStore", id="sqlite_store"),
    *(
        pytest.param("mm_assistants.approvals.store", name, id=f"approvals.store.{name}")
        for name in (
            "MemoryPendingStore",
            "PendingRecord",
            "PendingStore",
            "current_owner",
            "decode_record",
            "owner_alive",
        )
    ),
    *(
        pytest.param("mm_assistants.webhooks.seen", name, id=f"seen.{name}")
        for name in (
            "MemorySeenStore",
            "SEEN_FILE",
            "SQLiteSeenStore",
            "STATE_DIR_ENV",
            "SeenDeliveries",
            "default_seen_path",
            "open_seen_store",
        )
    ),
    *(
        pytest.param("mm_assistants.webhooks.route_store", name, id=f"route_store.{name}")
        for name in (
            "Admission",
            "InboundMessage",
            "MemoryRouteStore",
            "RouteStore",
            "SQLiteRouteStore",
            "open_route_store",
        )
    ),
]
CONSTANTS = [
    ("mm_assistants.webhooks.seen", "DEFAULT_MAX_ENTRIES", "mm_assistants.state.seen"),
    ("mm_assistants.webhooks.route_store", "DEFAULT_LEASE", "mm_assistants.state.routes"),
    ("mm_assistants.webhooks.route_store", "DEFAULT_SEEN_LIMIT", "mm_assistants.state.routes"),
]


@pytest.mark.parametrize(("module", "name"), WARNS)
def test_an_old_path_warns_and_gives_the_same_object(module: str, name: str) -> None:
    old = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{name} moved.*mm_assistants\.state"):
        value = getattr(old, name)
    assert value is getattr(state, name)


@pytest.mark.parametrize(("module", "name", "new"), CONSTANTS)
def test_an_old_constant_warns_and_keeps_its_value(module: str, name: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=new):
        value = getattr(importlib.import_module(module), name)
    assert value == getattr(importlib.import_module(new), name)


def test_a_name_the_old_module_never_had_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        importlib.import_module("mm_assistants.webhooks.seen").no_such_name  # noqa: B018 -- the attribute access is the test


@pytest.mark.parametrize(
    ("package", "names"),
    [
        pytest.param(
            approvals,
            ("MemoryPendingStore", "PendingRecord", "PendingStore", "SQLitePendingStore"),
            id="approvals",  # resolve_pending takes a PendingStore; Dispatcher's approval_store
        ),
        pytest.param(
            webhooks,
            ("MemorySeenStore", "SQLiteSeenStore", "SeenDeliveries"),
            id="webhooks",  # the receiver's replay_guard
        ),
        pytest.param(
            mm_assistants,
            ("MemoryPendingStore", "PendingRecord", "SQLitePendingStore"),
            id="top-level",
        ),
    ],
)
def test_a_package_that_offers_a_store_re_exports_it_without_a_warning(
    package: object, names: tuple[str, ...]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in names:
            assert getattr(package, name) is getattr(state, name)


def test_the_replay_guard_alias_is_the_memory_seen_store() -> None:
    assert webhooks.ReplayGuard is state.MemorySeenStore
