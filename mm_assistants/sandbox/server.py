"""`Sandbox`: both halves of the sandbox served by uvicorn on loopback, in a thread.

One port serves everything: MultiMail's paths at the root (``/v1/...``), the sandbox's
controls under ``/sandbox/``, the OpenAI-compatible emulator under ``/openai/v1`` and
``GET /health``. The HTTP controls need the per-start `Sandbox.control_token` in the
``X-Sandbox-Token`` header (`Sandbox.control_headers`), JSON bodies and a loopback Host;
the Python handles (``sb.multimail``, ``sb.faults``) need nothing.

State lives in one SQLite file: a temporary one that disappears with the sandbox, or
``db_path``, which a later sandbox on the same file finds again.

Example::

    with Sandbox() as sb:
        client = openai.OpenAI(api_key="sk-sandbox", base_url=sb.openai_url)
        mm = httpx.Client(base_url=sb.multimail_url,
                          headers={"Authorization": f"Bearer {sb.keys['send']}"})
        httpx.post(f"{sb.base_url}/sandbox/inbound", headers=sb.control_headers,
                   json={"sender": "ana@example.com", "subject": "Hi", "markdown": "?"})
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

from mm_assistants.sandbox.app import SandboxApp, create_sandbox_app
from mm_assistants.sandbox.clock import SandboxClock
from mm_assistants.sandbox.control_guard import TOKEN_VARIABLE
from mm_assistants.sandbox.faults import FaultInjector, RequestCounters, expose_connection
from mm_assistants.sandbox.multimail_api import MultiMailControl, MultiMailSandboxSettings
from mm_assistants.sandbox.openai_api import EmulatorControl, OpenAIEmulatorSettings
from mm_assistants.sandbox.serving import LoopbackServer, PortInUseError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Sandbox:
    """The local MultiMail server and OpenAI emulator, started on an ephemeral loopback port.

    ``port=0`` lets the system choose a free port. ``db_path=None`` keeps the data in a
    temporary folder removed at `stop`; a path keeps it across sandboxes. ``clock`` is
    shared by both halves (see `SandboxClock`). The other arguments configure each half.

    After `start` (or entering ``with``): `multimail_url`, `openai_url`, `keys` (scope ->
    API key of the seeded tenant), `mailbox_id` (its ``gated_send`` mailbox), the
    control handles `multimail`, `openai` and `faults`, and `control_token` for the HTTP
    controls. ``allowed_hosts`` are the names the controls and the review page answer to
    (default: the loopback names and ``host``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: str | Path | None = None,
        clock: SandboxClock | None = None,
        multimail_settings: MultiMailSandboxSettings | None = None,
        openai_settings: OpenAIEmulatorSettings | None = None,
        webhook_retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0),
        allow_non_loopback: bool = False,
        allowed_hosts: Iterable[str] | None = None,
    ) -> None:
        if host not in LOOPBACK_HOSTS and not allow_non_loopback:
            raise ValueError(
                f"host {host!r} is not a loopback address; the sandbox has no authentication "
                "worth the name, so pass allow_non_loopback=True to serve it beyond this machine"
            )
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 (any free port) or 1-65535, not {port}")
        self.host = host
        self._requested_port = port
        self._db_path = Path(db_path) if db_path is not None else None
        self.clock = clock or SandboxClock()
        self._multimail_settings = multimail_settings
        self._openai_settings = openai_settings
        self._webhook_retry_delays = tuple(webhook_retry_delays)
        self._allowed_hosts = _allowed_hosts(host, allowed_hosts)
        self._tmpdir: str | None = None
        self._app: SandboxApp | None = None
        self._server: LoopbackServer | None = None
        self._port: int | None = None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Build the apps, serve them, and return once the port answers (or raise)."""
        if self._server is not None:
            return self
        db_path = self._db_path
        if db_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="mm-sandbox-")
            db_path = Path(self._tmpdir) / "sandbox.db"
        self._app = create_sandbox_app(
            db_path=str(db_path),
            clock=self.clock,
            multimail_settings=self._multimail_settings,
            openai_settings=self._openai_settings,
            webhook_retry_delays=self._webhook_retry_delays,
            allowed_hosts=self._allowed_hosts,
        )
        self._server = LoopbackServer(
            expose_connection(self._app.asgi),
            host=self.host,
            port=self._requested_port,
            name="mm-sandbox",
        )
        try:
            self._server.start()
        except PortInUseError:
            self.stop()
            raise
        except RuntimeError:
            self.stop()
            raise RuntimeError(
                f"the sandbox did not start on {self.host}:{self._requested_port} "
                "(is the port taken?)"
            ) from None
        self._port = self._server.port
        return self

    def stop(self) -> None:
        """Stop serving, close the databases and remove a temporary folder (idempotent)."""
        if self._server is not None:
            self._server.stop()
        if self._app is not None:
            self._app.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        self._server = self._app = None
        self._tmpdir = self._port = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what users point their clients at ----------------------------------------------

    @property
    def port(self) -> int:
        """The port being served."""
        if self._port is None:
            raise RuntimeError("the sandbox is not running; call start() or use `with`")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port``: the root of everything served."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def multimail_url(self) -> str:
        """The MultiMail API base URL (``MULTIMAIL_API_URL``)."""
        return self.base_url

    @property
    def openai_url(self) -> str:
        """The OpenAI-compatible base URL (``OPENAI_BASE_URL``)."""
        return f"{self.base_url}/openai/v1"

    @property
    def app(self) -> SandboxApp:
        """The running apps and their control handles."""
        if self._app is None:
            raise RuntimeError("the sandbox is not running; call start() or use `with`")
        return self._app

    @property
    def keys(self) -> Mapping[str, str]:
        """API keys of the seeded tenant by scope: ``read``, ``send``, ``oversight``, ``admin``."""
        return self.app.multimail.seed.keys

    @property
    def mailbox_id(self) -> str:
        """The seeded tenant's ``gated_send`` mailbox."""
        return self.app.multimail.seed.mailbox_id

    @property
    def multimail(self) -> MultiMailControl:
        """The MultiMail half's control handle (inject inbound mail, decide, counters)."""
        return self.app.multimail

    @property
    def openai(self) -> EmulatorControl:
        """The OpenAI emulator's control handle (settings, scripts, counters)."""
        return self.app.openai

    @property
    def control_token(self) -> str:
        """This start's control token: the ``X-Sandbox-Token`` the HTTP controls need. A new
        one each start; keep it like a key."""
        return self.app.control_token

    @property
    def control_headers(self) -> dict[str, str]:
        """``{"X-Sandbox-Token": control_token}``, for an HTTP client of the controls."""
        return self.app.control_headers

    @property
    def faults(self) -> FaultInjector:
        """The fault injector of the MultiMail routes."""
        return self.app.faults

    @property
    def counters(self) -> RequestCounters:
        """Requests per MultiMail route, faulted ones included."""
        return self.app.counters

    def environment(self) -> dict[str, str]:
        """The variables that point the SDKs and mm-assistants at this sandbox, and
        ``MM_SANDBOX_TOKEN`` (the `control_token`) for scripts that use the HTTP controls."""
        return {
            "OPENAI_BASE_URL": self.openai_url,
            "OPENAI_API_KEY": "sk-sandbox",
            "MULTIMAIL_API_URL": self.multimail_url,
            "MULTIMAIL_API_KEY": self.keys["send"],
            "MULTIMAIL_MAILBOX_ID": self.mailbox_id,
            TOKEN_VARIABLE: self.control_token,
        }

    def __repr__(self) -> str:
        where = f"{self.base_url}" if self._port is not None else "stopped"
        return f"Sandbox({where})"


def _allowed_hosts(host: str, given: Iterable[str] | None) -> list[str]:
    if given is not None:
        return list(given)
    names = ["localhost", "127.0.0.1", "::1"]
    # a sandbox bound to a concrete non-loopback address answers to it too
    if host not in (*names, "0.0.0.0", "::", ""):
        names.append(host)
    return names
