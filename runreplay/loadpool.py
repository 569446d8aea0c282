"""The processes a big load parses in: where they start, what they skip, and what ends them.

Load workers start from multiprocessing's fork server, which imports the loader once
(`WORKER_PRELOAD`) so that each worker is a cheap fork of it. Three things here differ
from a plain `ProcessPoolExecutor`:

- Workers skip the user's `__main__` (`_WorkerProcess`).
- The fork server ignores Ctrl-C until its imports are done (`start_fork_server`,
  `runreplay.loadpool_imports`).
- Each worker holds a lifeline to the loading process (`hold`). Its parent is the fork
  server, not the loading process, and it holds the write end of its own task queue:
  when the loading process was killed (SIGTERM or SIGKILL to its PID alone, as a
  supervisor or `kill` sends), the workers waited for tasks forever, and kept the fork
  server (which lives while any of its children does) and the resource tracker alive with
  them: ~470 MiB of orphans per killed load.

Kept apart from runreplay.store, which imports DuckDB: a worker unpickles its process
object from this module, so it imports only this and the loader.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from multiprocessing import forkserver, popen_forkserver, resource_tracker, spawn
from multiprocessing.context import ForkServerContext, ForkServerProcess
from typing import Any

WORKER_PRELOAD = ("runreplay.loadpool_imports",)
"""What the fork server imports before it forks workers (the loader, this module and
pandas: see runreplay.loadpool_imports)."""

POLL_SECONDS = 0.5
"""How often a worker checks on the loading process where the kernel cannot tell it."""


class _WorkerProcess(ForkServerProcess):
    """A load worker the fork server starts without running the user's `__main__`.

    multiprocessing prepares every child it starts by re-running the parent's main script
    (or `python -m` module) as `__mp_main__`, so that functions pickled from it resolve. A
    worker only runs `build_batch` on lines of files, so it needs nothing from `__main__`,
    and re-running it broke loads from scripts without an `if __name__ == "__main__":`
    guard (the script ran again in every worker, which then died: BrokenProcessPool) and
    from `python - < script.py` (no such file as '<stdin>').
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = f"runreplay-load-{self.name}"  # unique: see _leave_main_out

    @staticmethod
    def _Popen(process_obj: Any) -> Any:  # noqa: N802 (multiprocessing's name)
        _leave_main_out(process_obj.name)
        try:
            return popen_forkserver.Popen(process_obj)
        finally:
            _MAINLESS.discard(process_obj.name)


_MAINLESS: set[str] = set()
"""The names of the load workers being launched: their preparation data has no
`__main__`."""
_installing = threading.Lock()


def _leave_main_out(name: str) -> None:
    """Have `multiprocessing.spawn.get_preparation_data`, which tells a child what to set
    up before it runs, leave `__main__` out for the process `name`. The function is
    wrapped once per process; the wrapper changes nothing for any other process, and
    nothing in this process's own `__main__` changes."""
    with _installing:
        _MAINLESS.add(name)
        if getattr(spawn.get_preparation_data, "_runreplay", False):
            return
        original = spawn.get_preparation_data

        def get_preparation_data(name: str) -> dict[str, Any]:
            data = original(name)
            if name in _MAINLESS:
                data.pop("init_main_from_path", None)
                data.pop("init_main_from_name", None)
            return data

        get_preparation_data._runreplay = True  # type: ignore[attr-defined]
        spawn.get_preparation_data = get_preparation_data


class _WorkerContext(ForkServerContext):
    """The fork server context, starting `_WorkerProcess`es."""

    Process = _WorkerProcess


def context() -> ForkServerContext:
    """The context load workers start in: the fork server, importing WORKER_PRELOAD."""
    worker_context = _WorkerContext()
    worker_context.set_forkserver_preload(list(WORKER_PRELOAD))
    return worker_context


def start_fork_server() -> None:
    """Start the fork server the load workers come from, unless it runs already (it does
    after a first load in this process). It imports WORKER_PRELOAD for ~0.4 s on a core of
    its own: started before this process imports the loader (as long), a first load in a
    fresh process, such as `runreplay load`, does both imports at once."""
    context()  # sets what the fork server imports
    # Ctrl-C reaches the whole process group: the fork server is spawned with SIGINT
    # blocked (as multiprocessing spawns its resource tracker), so one that arrives while
    # its interpreter starts waits, and runreplay.loadpool_imports drops it; this process
    # gets its own Ctrl-C once the spawn returns (a few ms). The resource tracker starts
    # first: starting it unblocks SIGINT.
    resource_tracker.ensure_running()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


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
