"""A throwaway redis-server for the tests: on loopback, on a free port, in a temp folder,
with a password (so the tests also see that it never leaks), stopped and removed after.

Debian's ``redis-server`` (``make redis`` installs it when missing). Persistence is off
(no RDB snapshot, no AOF): a restart loses every queued message, which is what the Celery
tests want to see survived. `RedisServer.stop` kills the process; `restart` starts it
again on the same port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PASSWORD = "s3cret-redis-password"  # a throwaway server's; tests check it never leaks


def find_server() -> str | None:
    """The ``redis-server`` program, or ``None``."""
    for candidate in ("/usr/bin/redis-server", shutil.which("redis-server")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def why_unavailable() -> str | None:
    """Why no server can be started here (``None``: one can)."""
    if find_server() is None:
        return "redis-server is not installed (make redis installs Debian's redis-server as root)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One running throwaway redis-server (see the module docstring)."""

    def __init__(self) -> None:
        self.program = find_server()
        self.folder = Path(tempfile.mkdtemp(prefix="mm-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL (it carries the password: never print it)."""
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        assert self.program is not None
        argv = [
            self.program,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.folder),
            "--requirepass", PASSWORD,
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OSError(f"redis-server exited with {self.process.returncode} at start")
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise OSError(f"redis-server did not answer within {timeout:g} s")

    def ping(self) -> bool:
        """True when the server answers an authenticated PING."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(f"AUTH {PASSWORD}\r\nPING\r\n".encode())
                answer = b""
                deadline = time.monotonic() + 1
                while b"PONG" not in answer and time.monotonic() < deadline:
                    chunk = sock.recv(64)
                    if not chunk:
                        break
                    answer += chunk
                return b"PONG" in answer
        except OSError:
            return False

    def stop(self) -> None:
        """Kill the server (no save: it keeps nothing) and wait for it, bounded."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start again on the same port: every queued message is gone."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove the folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
