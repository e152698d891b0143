"""The registry: lookups, flags, profiles and the self-approval rule."""

from __future__ import annotations

import pytest

from mm_assistants.tools import ToolRegistry, ToolSpec, load_registry
from mm_assistants.tools.endpoints import ENDPOINTS_V1
from mm_assistants.tools.profiles import PROFILES


def test_v1_holds_the_38_tools_of_multimail() -> None:
    registry = load_registry("v1")
    assert len(registry) == 38
    assert registry is load_registry("v1")  # cached


def test_an_unknown_version_names_the_bundled_ones() -> None:
    with pytest.raises(ValueError, match="bundled versions: v1"):
        load_registry("v9")


@pytest.mark.parametrize(
    ("name", "scope", "effect", "gated", "client_side"),
    [
        pytest.param("send_email", "send", "write", True, False, id="send"),
        pytest.param("reply_email", "send", "write", True, False, id="reply"),
        pytest.param("schedule_email", "send", "write", True, False, id="schedule"),
        pytest.param("read_email", "read", "read", False, False, id="read"),
        pytest.param("decide_email", "oversight", "write", False, False, id="decide"),
        pytest.param("delete_account", "admin", "destructive", False, False, id="delete-account"),
        pytest.param("wait_for_email", "read", "read", False, True, id="wait"),
        pytest.param("download_attachment", "read", "read", False, True, id="download"),
    ],
)
def test_flags(name: str, scope: str, effect: str, gated: bool, client_side: bool) -> None:
    spec = load_registry()[name]
    assert (spec.scope, spec.effect, spec.gated, spec.client_side) == (
        scope,
        effect,
        gated,
        client_side,
    )


def test_specs_hand_out_copies_so_the_registry_stays_read_only() -> None:
    spec = load_registry()["send_email"]
    spec.parameters["properties"].clear()
    spec.definition()["description"] = "changed"
    assert spec.parameters["properties"]
    assert spec.description != "changed"
    with pytest.raises(TypeError):
        load_registry()._specs["x"] = spec  # type: ignore[index]


def test_duplicate_names_are_refused() -> None:
    spec = load_registry()["read_email"]
    with pytest.raises(ValueError, match="duplicate tool name 'read_email'"):
        ToolRegistry([spec, spec], version="v1")


def test_validator_is_compiled_once_and_checks_formats() -> None:
    spec = load_registry()["send_email"]
    assert spec.validator is spec.validator
    bad = {
        "to": ["not-an-address"],
        "subject": "x",
        "markdown": "y",
        **{k: None for k in spec.parameters["required"] if k not in {"to", "subject", "markdown"}},
    }
    assert list(spec.validator.iter_errors(bad))


def test_repr_is_short_and_useful() -> None:
    assert repr(load_registry()) == "ToolRegistry(version='v1', tools=38)"
    assert "POST" in repr(load_registry()["send_email"])
    assert isinstance(load_registry()["send_email"], ToolSpec)


def test_profiles() -> None:
    registry = load_registry()
    assert set(registry.resolve(profile="reviewer")) == {
        "list_pending",
        "decide_email",
        "read_email",
        "get_thread",
        "check_inbox",
    }
    agent = registry.resolve()
    assert "send_email" in agent
    assert "decide_email" not in agent
    assert set(PROFILES["agent"]) <= set(ENDPOINTS_V1)


def test_admin_or_a_mixed_list_needs_explicit_self_approval() -> None:
    registry = load_registry()
    with pytest.raises(ValueError, match="both compose email and approve"):
        registry.resolve(profile="admin")
    with pytest.raises(ValueError, match="allow_self_approval=True"):
        registry.resolve(tools=["send_email", "decide_email"])
    assert len(registry.resolve(profile="admin", allow_self_approval=True)) == 38


def test_custom_lists_are_checked_and_deduplicated() -> None:
    registry = load_registry()
    assert registry.resolve(tools=["read_email", "read_email"]) == ("read_email",)
    with pytest.raises(ValueError, match="unknown tools: send_mail"):
        registry.resolve(tools=["send_mail"])
    with pytest.raises(ValueError, match="unknown profile 'boss'"):
        registry.resolve(profile="boss")
