"""A throwaway PostgreSQL cluster for the tests: started on loopback in a temp folder,
stopped (and its folder removed) at the end of the session.

`PostgresCluster.start` runs ``initdb`` and ``pg_ctl`` from Debian's ``postgresql``
package (``make postgres`` installs it when missing). PostgreSQL refuses to run as root, so
as root the server runs as the ``postgres`` user. The server listens on 127.0.0.1 only, on
a free port, with a password (scram) so the tests also see that no DSN leaks; durability is
switched off (``fsync=off``): nothing here must survive a crash of the machine.

`fresh_dsn` gives each test a database of its own (``CREATE DATABASE``, a fraction of a
second), so tests never see each other's rows, locks or notifications.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PASSWORD = "s3cret-pg-password"  # a throwaway cluster's; tests check it never leaks
USER = "mm_test"
_COUNT = itertools.count()


def find_bindir() -> Path | None:
    """The folder of ``initdb``/``pg_ctl``: Debian's versioned folder, or ``PATH``."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def why_unavailable() -> str | None:
    """Why no cluster can be started here (``None``: one can)."""
    if find_bindir() is None:
        return (
            "PostgreSQL's initdb is not installed (make postgres installs Debian's"
            " postgresql as root)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run PostgreSQL as"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """One running throwaway cluster (see the module docstring)."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="mm-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        self.started = False

    def _run(self, *argv: str, timeout: float = 120) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def start(self) -> PostgresCluster:
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        pwfile = self.folder / "pw"
        pwfile.write_text(PASSWORD)
        if self._as_postgres:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        os.chmod(pwfile, 0o600)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            "--pwfile",
            str(pwfile),
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        pwfile.unlink()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={self.folder}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=300 -c shared_buffers=64MB"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
        self.started = True
        return self

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def fresh_dsn(self) -> str:
        """A new, empty database of its own."""
        import psycopg

        name = f"t{os.getpid()}_{next(_COUNT)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def stop(self) -> None:
        try:
            if self.started:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            self.started = False
            shutil.rmtree(self.folder, ignore_errors=True)

    def wait_ready(self, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise TimeoutError("PostgreSQL did not accept connections")
