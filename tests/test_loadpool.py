"""The load's worker processes: what their fork server imports, and what a worker needs."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys

from runreplay import loadpool


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_worker_starts_without_importing_duckdb():
    # a worker unpickles its process object after the fork server's preload: the class
    # must not pull in runreplay.store (and DuckDB, ~60 ms and its memory per worker)
    process_class = pickle.dumps(loadpool._WorkerProcess).hex()
    finished = _run(
        "import pickle, sys\n"
        + "".join(f"import {module}\n" for module in loadpool.WORKER_PRELOAD)
        + f"pickle.loads(bytes.fromhex({process_class!r}))\n"
        "print(sorted(m for m in sys.modules if m == 'duckdb' or m == 'runreplay.store'))\n"
        "print('runreplay.ingest' in sys.modules, 'pandas' in sys.modules)\n"
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines() == ["[]", "True True"]


def test_the_fork_server_imports_ignore_ctrl_c_and_put_the_handler_back():
    # Ctrl-C reaches the whole process group: arriving while the fork server imports, it
    # printed that server's KeyboardInterrupt traceback. Here SIGINT arrives in the
    # middle of the preload's imports (as runreplay.ingest is imported).
    finished = _run(
        "import importlib.abc, os, signal, sys\n"
        "class Interrupt(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'runreplay.ingest':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "import runreplay.loadpool_imports\n"
        "print('imported', 'runreplay.ingest' in sys.modules)\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    import time; time.sleep(5)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted afterwards')\n"
    )
    assert finished.returncode == 0, finished.stderr
    assert "KeyboardInterrupt" not in finished.stderr
    assert finished.stdout.splitlines() == ["imported True", "True", "interrupted afterwards"]


def test_a_ctrl_c_waiting_when_the_fork_server_starts_is_dropped():
    # the fork server is spawned with SIGINT blocked, so a Ctrl-C during its interpreter's
    # start waits; its imports then drop it and leave SIGINT unblocked for what it forks
    finished = _run(
        "import os, signal, sys\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "import runreplay.loadpool_imports\n"
        "print(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set()))\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines() == ["False", "True"]


def test_the_fork_server_is_spawned_with_ctrl_c_blocked_and_this_process_is_not(monkeypatch):
    from multiprocessing import forkserver

    seen: list[bool] = []
    monkeypatch.setattr(
        forkserver,
        "ensure_running",
        lambda: seen.append(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())),
    )
    loadpool.start_fork_server()
    assert seen == [True]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
