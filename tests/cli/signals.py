"""Children that a test interrupts as a person would, with Ctrl-C.

A command started in the background by a non-interactive shell (``make test &``, some CI
runners) inherits SIGINT *ignored*, and Python then installs no KeyboardInterrupt handler
in its children: a test's SIGINT would do nothing. A terminal's Ctrl-C reaches a process
whose SIGINT is not ignored, so the child gets the default disposition back before it
starts (`interruptible`, as ``preexec_fn``).
"""

from __future__ import annotations

import signal


def interruptible() -> None:
    """Give SIGINT its default disposition in a child about to exec (see the module doc)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
