"""A load worker's lifeline: it exits when the process whose load it works for dies.

Load workers come from multiprocessing's fork server, so their parent is the fork server,
not the loading process, and they hold the write end of their own task queue: when the
loading process was killed (SIGTERM or SIGKILL to its PID alone, as a supervisor or `kill`
sends), the workers waited for tasks forever, and kept the fork server (which lives while
any of its children does) and the resource tracker alive with them: ~470 MiB of orphans
per killed load. Ctrl-C reaches the whole process group, so it never showed there.

Kept apart from runreplay.store, which imports DuckDB: workers import only this and the
loader.
"""

from __future__ import annotations

import os
import select
import threading
import time

POLL_SECONDS = 0.5
"""How often a worker checks on the loading process where the kernel cannot tell it."""


def hold(pid: int) -> None:
    """Start a daemon thread that ends this process (os._exit) once process `pid` is gone.

    The initializer of a load's worker processes. Waits on a pidfd (Linux 5.3+: woken the
    moment `pid` exits); elsewhere, checks every POLL_SECONDS.
    """
    threading.Thread(target=_watch, args=(pid,), name="runreplay-lifeline", daemon=True).start()


def _watch(pid: int) -> None:
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:  # gone before this worker started
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd here: poll
        while alive(pid):
            time.sleep(POLL_SECONDS)
        os._exit(1)
    select.select([handle], [], [])  # readable once the process has exited
    os._exit(1)


def alive(pid: int) -> bool:
    """True while process `pid` exists (and is this user's: another's is a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (the pid was reused)
        return False
    return True
