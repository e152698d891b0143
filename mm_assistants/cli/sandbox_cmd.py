"""``mm-assistants sandbox``: serve the local MultiMail server and OpenAI emulator.

Prints where everything is, the seeded tenant's keys and this start's control token (an
``export MM_SANDBOX_TOKEN=...`` line: the ``/sandbox/...`` controls need it in the
``X-Sandbox-Token`` header), then serves until interrupted
(Ctrl-C or SIGTERM). With ``--db`` the data outlives the process. A taken ``--port`` is one
line on stderr and exit code 2; ``--port 0`` takes any free port and prints it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any, TextIO

from mm_assistants.cli.errors import CliError

DEFAULT_PORT = 8025


def register(subparsers: Any) -> None:
    """Add ``sandbox``."""
    parser = subparsers.add_parser(
        "sandbox", help="serve a local MultiMail server and OpenAI emulator on loopback"
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"the port to serve on (default: {DEFAULT_PORT}); 0 takes any free port, and the "
        "lines printed at start carry the one bound",
    )
    parser.add_argument("--db", default=None, help="SQLite file that keeps the data")
    parser.add_argument(
        "--scan-delay", type=float, default=None, help="seconds a send stays pending_scan"
    )
    parser.add_argument(
        "--poll-after-ms", type=int, default=None, help="openai-poll-after-ms on run answers"
    )
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    # needs the sandbox's extra: a missing module becomes the install hint (cli/errors.py)
    from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox
    from mm_assistants.sandbox.serving import PortInUseError

    multimail = (
        None if args.scan_delay is None else MultiMailSandboxSettings(scan_delay=args.scan_delay)
    )
    openai = OpenAIEmulatorSettings(poll_after_ms=args.poll_after_ms)
    started = time.monotonic()
    try:
        sandbox = Sandbox(
            host=args.host,
            port=args.port,
            db_path=args.db,
            multimail_settings=multimail,
            openai_settings=openai,
        ).start()
    except PortInUseError as exc:
        raise CliError(
            f"{exc} (another sandbox?): stop what holds it, or pass --port 0 to take any free "
            "port (the lines printed then carry the port bound)"
        ) from None
    except (ValueError, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        describe(sandbox, time.monotonic() - started, sys.stdout)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def describe(sandbox: Any, startup_seconds: float, out: TextIO) -> None:
    """Print the URLs, the seeded tenant and its keys, and how to point clients here."""
    seed = sandbox.multimail.seed
    lines = [
        f"mm-assistants sandbox ready in {startup_seconds:.2f} s",
        f"  port            {sandbox.port} on {sandbox.host} (every URL below uses it)",
        f"  MultiMail API   {sandbox.multimail_url}",
        f"  OpenAI API      {sandbox.openai_url}",
        f"  health          {sandbox.base_url}/health",
        f"  review page     {sandbox.base_url}/review/ (approve or reject held emails)",
        f"  controls        {sandbox.base_url}/sandbox/... (JSON, with the header "
        "X-Sandbox-Token: $MM_SANDBOX_TOKEN)",
        f"  tenant          {seed.tenant_id}",
        f"  mailbox         {seed.mailbox_id} <{seed.address}> (gated_send)",
    ]
    lines += [f"  key {scope:<11} {key}" for scope, key in sorted(seed.keys.items())]
    lines += ["", "Point the SDKs here with:"]
    lines += [f"  export {name}={value}" for name, value in sandbox.environment().items()]
    lines += ["", "Ctrl-C stops the sandbox."]
    print("\n".join(lines), file=out, flush=True)
