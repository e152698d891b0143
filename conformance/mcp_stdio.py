"""MultiMail's own MCP server, built from its published source and spoken to over stdio.

Shared by ``scripts/mcp_tools_list.py`` (the ``tools/list`` snapshot) and the conformance
suite (every tool called against the sandbox). `build` copies a source folder into a cache
outside the repository and compiles it (``npm install`` once, then ``npx tsc``); `McpServer`
starts ``node dist/index.js`` with the environment it is given and speaks MCP's JSON-RPC,
one message a line, every wait bounded.

Only npm's registry is contacted, by ``npm install``; the server talks to whatever
``MULTIMAIL_API_URL`` says (the sandbox on loopback here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
#: The published sources (MIT) the house keeps next to the repository.
SOURCES = REPO.parent / "shared" / "reference" / "multimail-mcp-server"
CACHE = Path.home() / ".cache" / "mm-assistants"
#: Bounds every wait on the server: a hung child must not hang the caller.
REPLY_TIMEOUT_S = 30.0
BUILD_TIMEOUT_S = 600.0
PROTOCOL_VERSION = "2025-06-18"


def source_of(version: str) -> Path:
    """The published source folder of server ``version`` (``0.5.3``, ``0.7.0-spam``)."""
    return SOURCES / version


def cache_of(version: str) -> Path:
    """Where server ``version`` is built (outside the repository)."""
    return CACHE / f"mcp-server-{version}"


def missing(version: str) -> str | None:
    """Why server ``version`` cannot be built here, or ``None`` when it can."""
    for program in ("node", "npm", "npx"):
        if shutil.which(program) is None:
            return f"{program} is not installed"
    if not (source_of(version) / "package.json").is_file():
        return f"{source_of(version)} is missing (../shared is not next to the repository)"
    return None


def build(source: Path, cache: Path) -> Path:
    """Copy the server source into ``cache`` and compile it; returns the entry point.

    ``npm install`` runs only when ``node_modules`` is missing; ``tsc`` is skipped when the
    compiled entry point is newer than every source file, so a warm cache costs nothing.
    """
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "tsconfig.json"):
        shutil.copy2(source / name, cache / name)
    shutil.copytree(source / "src", cache / "src", dirs_exist_ok=True)
    if not (cache / "node_modules").is_dir():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund"],
            cwd=cache,
            check=True,
            timeout=BUILD_TIMEOUT_S,
            capture_output=True,
        )
    entry = cache / "dist" / "index.js"
    newest = max(path.stat().st_mtime for path in (cache / "src").rglob("*.ts"))
    if not entry.is_file() or entry.stat().st_mtime < newest:
        subprocess.run(
            ["npx", "--no-install", "tsc"],
            cwd=cache,
            check=True,
            timeout=BUILD_TIMEOUT_S,
            capture_output=True,
        )
    return entry


def build_version(version: str) -> Path:
    """`build` published server ``version`` into its cache folder."""
    return build(source_of(version), cache_of(version))


class McpServer:
    """A running MCP server over stdio: `initialize` once, then `list_tools` / `call_tool`.

    Example::

        with McpServer(entry, {"MULTIMAIL_API_KEY": key, "MULTIMAIL_API_URL": url}) as mcp:
            names = [tool["name"] for tool in mcp.list_tools()]
            result = mcp.call_tool("list_mailboxes", {})   # {"content": [...], "isError": ...}
    """

    def __init__(
        self, entry: Path, env: Mapping[str, str], *, timeout: float = REPLY_TIMEOUT_S
    ) -> None:
        self._entry = entry
        # PATH and HOME only from this process: the server must not see our secrets.
        self._env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            **env,
        }
        self._timeout = timeout
        self._next_id = 0
        self._process: subprocess.Popen[str] | None = None
        self._lines: list[str] = []
        self._arrived = threading.Condition()

    def __enter__(self) -> McpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and complete MCP's handshake."""
        self._process = subprocess.Popen(
            ["node", str(self._entry)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self._env,
            text=True,
        )
        # A reader thread, so that a reply's wait is bounded even when the server is silent.
        threading.Thread(target=self._read, daemon=True).start()
        self.request("initialize", client_hello())
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def stop(self) -> None:
        """Stop the server (killed: it holds no state worth a clean exit)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=self._timeout)
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
            self._process = None

    def list_tools(self) -> list[dict[str, Any]]:
        """The server's tools, as listed."""
        tools: list[dict[str, Any]] = self.request("tools/list", {})["tools"]
        return tools

    def call_tool(
        self, name: str, arguments: Mapping[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Call tool ``name``: the MCP result (``content``, ``isError``)."""
        return self.request(
            "tools/call", {"name": name, "arguments": dict(arguments)}, timeout=timeout
        )

    def request(
        self, method: str, params: Mapping[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send one JSON-RPC request and wait (bounded) for its reply's ``result``."""
        self._next_id += 1
        ident = self._next_id
        self._send({"jsonrpc": "2.0", "id": ident, "method": method, "params": dict(params)})
        return self._reply(ident, self._timeout if timeout is None else timeout)

    def _send(self, message: Mapping[str, Any]) -> None:
        assert self._process is not None, "start the server first"
        stdin: IO[str] | None = self._process.stdin
        assert stdin is not None
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()

    def _read(self) -> None:
        process = self._process
        assert process is not None
        assert process.stdout is not None
        for line in process.stdout:
            with self._arrived:
                self._lines.append(line)
                self._arrived.notify_all()
        with self._arrived:
            self._lines.append("")  # end of output: the server exited
            self._arrived.notify_all()

    def _reply(self, ident: int, timeout: float) -> dict[str, Any]:
        # The stdio transport writes one JSON-RPC message per line; skip notifications.
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                while self._lines:
                    line = self._lines.pop(0)
                    if not line:
                        self._lines.append(line)
                        raise RuntimeError("the MCP server exited before answering")
                    message = json.loads(line)
                    if message.get("id") != ident:
                        continue
                    if "error" in message:
                        raise RuntimeError(f"the MCP server answered an error: {message['error']}")
                    result: dict[str, Any] = message["result"]
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer to request {ident} within {timeout} s")
                self._arrived.wait(left)


def client_hello() -> dict[str, Any]:
    """The ``initialize`` parameters this harness sends."""
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mm-assistants-conformance", "version": "1"},
    }


def server_version(entry: Path) -> str:
    """The ``version`` in the built server's ``package.json``."""
    version: str = json.loads((entry.parents[1] / "package.json").read_text("utf-8"))["version"]
    return version
