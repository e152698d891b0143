"""Who holds a claim: the same liveness rule for every store's claims."""

from __future__ import annotations

import os
import socket
import time

import pytest

from mm_assistants.state import current_owner, owner_alive, owners
from mm_assistants.state.owners import claim_live, host_identity, new_token, token_alive

HOST = host_identity()


@pytest.mark.parametrize(
    ("owner", "alive"),
    [
        pytest.param(None, True, id="nobody-named"),
        pytest.param("elsewhere:12", True, id="another-host"),
        pytest.param(f"{HOST}:{os.getpid()}", True, id="this-process"),
        pytest.param(f"{HOST}:99999999", False, id="gone"),
        pytest.param(f"{HOST}:{2**80}", False, id="no-such-pid"),
        pytest.param(f"{HOST}:abc", True, id="not-a-pid"),
    ],
)
def test_whether_an_owner_may_still_run(owner: str | None, alive: bool) -> None:
    assert owner_alive(owner) is alive


def test_a_process_we_may_not_signal_is_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, signal: int) -> None:
        raise PermissionError("another user's")

    monkeypatch.setattr(os, "kill", refuse)
    assert owner_alive(f"{HOST}:1")


def test_a_claim_holds_until_its_lease_ends_or_its_process_is_gone() -> None:
    now = time.time()
    token = new_token()
    assert token.endswith("@" + current_owner())
    assert token_alive(token)
    assert claim_live(token, now + 10, now)
    assert not claim_live(token, now, now)
    assert not claim_live(token, None, now)
    assert not claim_live(token, True, now)
    assert not claim_live(f"x@{HOST}:99999999", now + 10, now)


def test_a_container_sharing_our_host_name_is_another_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two containers with one host name but their own PID namespaces: a pid of the other
    # one means nothing here, so its claim is trusted until its lease ends (never taken
    # over because this container has no such pid).
    name = socket.gethostname()
    monkeypatch.setattr(owners, "_pid_namespace", lambda: "4026531836")
    assert owner_alive(f"{name}~4026532999:99999999") is True
    assert owner_alive(f"{name}~4026531836:99999999") is False  # our own namespace: asked
    assert current_owner() == f"{name}~4026531836:{os.getpid()}"


def test_without_a_namespace_to_read_the_host_name_alone_names_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreadable(path: str) -> str:
        raise OSError("no /proc here")

    monkeypatch.setattr(os, "readlink", unreadable)
    assert host_identity() == socket.gethostname()
    assert owner_alive(f"{socket.gethostname()}:99999999") is False


@pytest.mark.parametrize(
    ("link", "namespace"),
    [
        pytest.param("pid:[4026531836]", "4026531836", id="linux"),
        pytest.param("pid:[]", "", id="empty"),
        pytest.param("pid:[40x6]", "", id="not-digits"),
        pytest.param("4026531836", "4026531836", id="bare-digits"),
    ],
)
def test_the_namespace_is_the_inode_the_link_names(
    monkeypatch: pytest.MonkeyPatch, link: str, namespace: str
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(os, "readlink", lambda path: asked.append(path) or link)
    assert owners._pid_namespace() == namespace
    assert asked == ["/proc/self/ns/pid"]
