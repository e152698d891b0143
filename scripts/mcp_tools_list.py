"""Ask MultiMail's own MCP server for its ``tools/list`` and keep the answer as a test snapshot.

    python scripts/mcp_tools_list.py [--source DIR] [--cache DIR] [--out FILE]

Builds the server source in a cache folder outside the repository (``npm install``, then
``npx tsc``), starts ``node dist/index.js`` with a dummy key and an API address nobody
listens on (127.0.0.1:9: listing tools makes no HTTP call, and nothing may reach the
internet), speaks MCP JSON-RPC over stdio (``initialize``, ``notifications/initialized``,
``tools/list``) and writes the listed tools to ``tests/tools/mcp_tools_list_0.7.0-spam.json``.
``tests/tools/test_mcp_snapshot.py`` compares ``schemas/v2`` with that file.

Only npm's registry is contacted, by ``npm install``; the server itself never is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "reference" / "multimail-mcp-server" / "0.7.0-spam"
CACHE = Path.home() / ".cache" / "mm-assistants" / "mcp-server-0.7.0-spam"
OUT = REPO / "tests" / "tools" / "mcp_tools_list_0.7.0-spam.json"
SOURCE_INFO = {
    "repository": "multimail-dev/mcp-server",
    "version": "0.7.0",
    "commit": "4964220",
    "note": "0.7.0 plus the spam-review tools",
    "generated_by": "scripts/mcp_tools_list.py",
}
#: Bounds every wait on the server: a hung child must not hang the script.
REPLY_TIMEOUT_S = 30.0
PROTOCOL_VERSION = "2025-06-18"


def build(source: Path, cache: Path) -> Path:
    """Copy the server source into ``cache`` and compile it; returns the entry point."""
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "tsconfig.json"):
        shutil.copy2(source / name, cache / name)
    shutil.copytree(source / "src", cache / "src", dirs_exist_ok=True)
    if not (cache / "node_modules").is_dir():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund"],
            cwd=cache,
            check=True,
            timeout=600,
        )
    subprocess.run(
        ["npx", "--no-install", "tsc"],
        cwd=cache,
        check=True,
        timeout=600,
    )
    return cache / "dist" / "index.js"


def list_tools(entry: Path) -> list[dict[str, Any]]:
    """Start the built server and return its ``tools/list`` answer's tools, as listed."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "MULTIMAIL_API_KEY": "mm_test_dummy",
        "MULTIMAIL_API_URL": "http://127.0.0.1:9",
    }
    process = subprocess.Popen(
        ["node", str(entry)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        _send(process.stdin, _request(1, "initialize", _client_hello()))
        _reply(process.stdout, 1)
        _send(process.stdin, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        _send(process.stdin, _request(2, "tools/list", {}))
        tools: list[dict[str, Any]] = _reply(process.stdout, 2)["tools"]
        return tools
    finally:
        process.kill()
        process.wait(timeout=REPLY_TIMEOUT_S)


def _client_hello() -> dict[str, Any]:
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mm-assistants-snapshot", "version": "1"},
    }


def _request(ident: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "method": method, "params": params}


def _send(stream: IO[str], message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _reply(stream: IO[str], ident: int) -> dict[str, Any]:
    # The stdio transport writes one JSON-RPC message per line; skip notifications.
    deadline = time.monotonic() + REPLY_TIMEOUT_S
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            raise RuntimeError("the MCP server exited before answering")
        message = json.loads(line)
        if message.get("id") == ident:
            if "error" in message:
                raise RuntimeError(f"the MCP server answered an error: {message['error']}")
            result: dict[str, Any] = message["result"]
            return result
    raise TimeoutError(f"no answer to request {ident} within {REPLY_TIMEOUT_S} s")


def main(argv: list[str] | None = None) -> int:
    """Build, list and write the snapshot; prints the tool count and the time taken."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=OUT)
    options = parser.parse_args(argv)
    started = time.monotonic()
    tools = list_tools(build(options.source, options.cache))
    snapshot = {"source": SOURCE_INFO, "tools": tools}
    options.out.write_text(json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"{len(tools)} tools -> {options.out} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
