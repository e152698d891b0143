"""Who holds a claim: this process's name, and whether a named process may still run.

A claim (on a pending approval, a checkpoint) names its holder ``"host:pid"``, so a claim
left by a process that died can be taken over before its lease ends: on this host the
process is asked for; another host's process is trusted to be alive until its lease ends.

"Host" is the host name *and*, where the system tells it, the PID namespace
(``name~<inode>`` on Linux): containers that share a host name but not their processes
(``--network host``, or one name given to many pods) must not ask each other's pids, which
would read a live claim of the other container as abandoned and take it over.
"""

from __future__ import annotations

import os
import secrets
import socket


def host_identity() -> str:
    """This host as claims name it: the host name, and the PID namespace where known."""
    namespace = _pid_namespace()
    name = socket.gethostname()
    return f"{name}~{namespace}" if namespace else name


def _pid_namespace() -> str:
    """The inode of this process's PID namespace (Linux), or "" where there is none to read."""
    try:
        link = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return ""
    digits = link.rpartition("[")[2].rstrip("]")
    return digits if digits.isdigit() else ""


def current_owner() -> str:
    """This process, as a claim's holder: ``"host:pid"`` (see `host_identity`)."""
    return f"{host_identity()}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process ``owner`` (``"host:pid"``) may still be running: on this host
    it is asked; another host's process is trusted to be alive (its deadline decides)."""
    host, _, pid = (owner or "").rpartition(":")
    if host != host_identity() or not pid.isdigit():
        return True  # another machine's process: trust its deadline
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # a pid no system has: nobody runs it
        return False
    return True


def new_token() -> str:
    """A fresh claim token naming this process: ``"<random>@host:pid"``."""
    return secrets.token_hex(8) + "@" + current_owner()


def token_alive(token: object) -> bool:
    """Whether the process named in a claim token (``"<random>@host:pid"``) may still run;
    a token naming no process is trusted (its lease decides)."""
    _, _, owner = str(token or "").partition("@")
    return owner_alive(owner)


def claim_live(token: object, until: object, now: float) -> bool:
    """Whether a claim held by ``token`` until ``until`` (unix seconds) still holds at
    ``now``: its lease has not ended and its process is not known to be gone."""
    if isinstance(until, bool) or not isinstance(until, (int, float)) or until <= now:
        return False
    return token_alive(token)
