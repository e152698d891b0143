"""`LoopbackServer`: any ASGI application served by uvicorn in a thread, on loopback.

The sandbox runs on it, and so can whatever a demo or a test needs to expose to the
sandbox, such as a webhook receiver::

    with LoopbackServer(receiver_app) as server:
        print(server.url)   # http://127.0.0.1:<free port>
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class PortInUseError(RuntimeError):
    """The port asked for is taken by another process (``port=0`` takes any free one)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"port {port} on {host} is already in use")
        self.host = host
        self.port = port


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; a `PortInUseError` when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # create_server sets SO_REUSEADDR on POSIX, as uvicorn's own bind does
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port) from None
        raise


class LoopbackServer:
    """Serve ``app`` on ``host:port`` (``port=0``: any free port) until `stop`."""

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "mm-loopback"
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.name = name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self.port: int | None = None

    def __repr__(self) -> str:
        return f"LoopbackServer({self.name!r}, port={self.port})"

    @property
    def url(self) -> str:
        """``http://host:port`` once started."""
        if self.port is None:
            raise RuntimeError("the server is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        """Serve, and return once the port answers (or raise ``RuntimeError``)."""
        if self._server is not None:
            return self
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.requested_port,
            log_level="warning",
            lifespan="on",
            ws="none",
        )
        # Bound here, not by uvicorn: a taken port is a clear `PortInUseError` at once, and
        # uvicorn does not log its own copy of the failure on stderr.
        self._listener = bind(self.host, self.requested_port)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._listener]},
            name=self.name,
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(
                    f"{self.name} did not start on {self.host}:{self.requested_port} "
                    "(is the port taken?)"
                )
            time.sleep(0.005)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
        if self._listener is not None:
            self._listener.close()  # uvicorn closes it on shutdown; not if it never started
        self._server = self._thread = self._listener = None
        self.port = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
