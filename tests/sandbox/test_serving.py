"""`LoopbackServer` binds its own socket: a taken port is a `PortInUseError` at once, with
nothing logged by uvicorn (issue 12, item 10)."""

from __future__ import annotations

import socket

import pytest

from mm_assistants.sandbox import Sandbox
from mm_assistants.sandbox.serving import PortInUseError


def test_a_taken_port_is_a_port_in_use_error_and_nothing_else(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError) as raised:
            Sandbox(port=port).start()
    assert str(raised.value) == f"port {port} on 127.0.0.1 is already in use"
    assert raised.value.port == port
    assert isinstance(raised.value, RuntimeError)  # what callers caught before
    assert capfd.readouterr().err == ""  # uvicorn logged no copy of its own


def test_the_port_is_free_again_after_stop() -> None:
    with Sandbox() as sandbox:
        port = sandbox.port
    with Sandbox(port=port) as again:  # nothing kept the socket open
        assert again.port == port
