"""Ask MultiMail's own MCP server for its ``tools/list`` and keep the answer as a test snapshot.

    python scripts/mcp_tools_list.py [--source DIR] [--cache DIR] [--out FILE]

Builds the server source in a cache folder outside the repository and starts it with a
dummy key and an API address nobody listens on (127.0.0.1:9: listing tools makes no HTTP
call, and nothing may reach the internet); both steps are ``conformance.mcp_stdio``'s, which
the conformance suite shares. Writes the listed tools to
``tests/tools/mcp_tools_list_0.7.0-spam.json``; ``tests/tools/test_mcp_snapshot.py``
compares ``schemas/v2`` with that file.

Only npm's registry is contacted, by ``npm install``; the server itself never is.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Run as a file (``python scripts/...``): the repository's folders are not on sys.path.
sys.path.insert(0, str(REPO))

from conformance.mcp_stdio import McpServer, build, cache_of, source_of  # noqa: E402 -- after the sys.path line above

VERSION = "0.7.0-spam"
OUT = REPO / "tests" / "tools" / f"mcp_tools_list_{VERSION}.json"
SOURCE_INFO = {
    "repository": "multimail-dev/mcp-server",
    "version": "0.7.0",
    "commit": "4964220",
    "note": "0.7.0 plus the spam-review tools",
    "generated_by": "scripts/mcp_tools_list.py",
}
DUMMY_ENV = {"MULTIMAIL_API_KEY": "mm_test_dummy", "MULTIMAIL_API_URL": "http://127.0.0.1:9"}


def main(argv: list[str] | None = None) -> int:
    """Build, list and write the snapshot; prints the tool count and the time taken."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=source_of(VERSION))
    parser.add_argument("--cache", type=Path, default=cache_of(VERSION))
    parser.add_argument("--out", type=Path, default=OUT)
    options = parser.parse_args(argv)
    started = time.monotonic()
    with McpServer(build(options.source, options.cache), DUMMY_ENV) as server:
        tools = server.list_tools()
    snapshot = {"source": SOURCE_INFO, "tools": tools}
    options.out.write_text(json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"{len(tools)} tools -> {options.out} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
