"""The local demo: the analysis store, the reference core API and JupyterLab, started and stopped together.

    python -m runreplay.demo                 # what `make demo` runs; Ctrl-C stops everything
    python -m runreplay.demo --no-browser    # the same without opening a browser

It loads data/ into the analysis store (runs.duckdb), starts `runreplay serve --execute` on
127.0.0.1 over its own DuckDB file (server.duckdb, loaded from data/) with a token made for
this session, and opens JupyterLab on notebooks/01_compare_two_runs.ipynb with
RUNREPLAY_API_URL, RUNREPLAY_TOKEN and RUNREPLAY_DB set, so the notebook's panels find both.

`start_reference_server` is the same server for a notebook or a test: a subprocess on a free
loopback port, stopped with `.stop()` (notebook 03 uses it when RUNREPLAY_API_URL is unset).
"""

from __future__ import annotations

import argparse
import atexit
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runreplay.errors import RunReplayError

DEFAULT_NOTEBOOK = "notebooks/01_compare_two_runs.ipynb"
WORKSPACE = "demo-notebooks"
"""Where the demo's JupyterLab opens copies of notebooks/: Lab autosaves outputs into the
notebooks it has open, and the tracked ones must stay as committed (gitignored; same depth
as notebooks/, so their `../data` paths hold)."""
LAB_QUIET_ARGS = ("--LabApp.news_url=None", "--ServerApp.log_level=WARN")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass
class ChildProcess:
    """A server this module started: its URL, its token, and how to stop it."""

    name: str
    url: str
    token: str
    process: subprocess.Popen
    log_path: Path | None = None
    cleanup: list[Path] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` s; remove its temporary files. Returns the
        exit status (None if it had to be killed and still did not report one)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    return None
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)
        return self.process.returncode

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])

    def __enter__(self) -> ChildProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"exited {self.process.returncode}"
        return f"<{self.name} {self.url} pid {self.pid} {state}>"


def start_reference_server(
    data: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    db: str | os.PathLike | None = None,
    *,
    execute: bool = True,
    port: int | None = None,
    host: str = "127.0.0.1",
    token: str | None = None,
    operator: str = "notebook",
    event_delay: float = 0.1,
    log: str | os.PathLike | None = None,
    quiet: bool = True,
    env: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT,
) -> ChildProcess:
    """Start `runreplay serve` in the background and wait until it answers GET /health.

    `data`: run files or directories to load into the server first. `db`: the server's
    DuckDB file (default: one in a temporary directory, removed by `.stop()`). `token`
    (default: a new random one) is given to the server for `operator` through
    RUNREPLAY_TOKENS, never on the command line. The server's output goes to `log`
    (default: server.log in the temporary directory), or to this process's own output
    when `quiet=False`. Raises RunReplayError with the log's tail when it does not start.
    It is stopped when this Python process exits, if `.stop()` was not called before.

        >>> server = start_reference_server("../data")      # doctest: +SKIP
        >>> api = CoreAPI(server.url, server.token)          # doctest: +SKIP
        >>> server.stop()                                     # doctest: +SKIP
    """
    cleanup: list[Path] = []
    if db is None or (log is None and quiet):
        workdir = Path(tempfile.mkdtemp(prefix="runreplay-server-"))
        cleanup.append(workdir)
        db = db if db is not None else workdir / "server.duckdb"
        log = log if log is not None else workdir / "server.log"
    token = token or secrets.token_urlsafe(24)
    port = port or free_port(host)
    command = [sys.executable, "-m", "runreplay.cli", "serve", "--db", os.fspath(db),
               "--host", host, "--port", str(port), "--event-delay", str(event_delay)]  # fmt: skip
    if execute:
        command.append("--execute")
    command += ["--log-level", "info" if quiet else "warning"]  # quiet: all goes to the log
    if data is not None:
        sources = [data] if isinstance(data, str | os.PathLike) else list(data)
        for source in sources:
            command += ["--load", os.fspath(source)]
    child_env = dict(os.environ if env is None else env)
    child_env["RUNREPLAY_TOKENS"] = f"{operator}:{token}"
    child_env["PYTHONUNBUFFERED"] = "1"
    log_path = Path(log) if quiet and log is not None else None
    output = open(log_path, "w", encoding="utf-8") if log_path is not None else None  # noqa: SIM115
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            env=child_env,
            start_new_session=True,  # Ctrl-C in a terminal reaches the parent, which stops us
        )
    finally:
        if output is not None:
            output.close()
    url = f"http://{host}:{port}"
    server = ChildProcess("runreplay core API", url, token, process, log_path, cleanup)
    atexit.register(server.stop)  # a notebook whose kernel exits early leaves no server behind
    _wait_until_answering(server, f"{url}/health", timeout)
    return server


def start_jupyterlab(
    notebook: str | os.PathLike | None = None,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    token: str | None = None,
    root_dir: str | os.PathLike = ".",
    open_browser: bool = True,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = START_TIMEOUT,
) -> ChildProcess:
    """Start JupyterLab on `host:port` (opening `notebook`) and wait until /api/status answers.

    `token` (default: a new random one) reaches Jupyter through JUPYTER_TOKEN; `extra_args`
    go to `jupyter lab` as they are (`--LabApp.news_url=None`, ...).
    """
    token = token or secrets.token_urlsafe(24)
    port = port or free_port(host)
    command = [sys.executable, "-m", "jupyterlab", f"--ip={host}", f"--port={port}",
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={os.fspath(root_dir)}"]  # fmt: skip
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers often run as root; Jupyter refuses else
    command += list(extra_args)
    if notebook is not None:
        command.append(os.fspath(notebook))
    child_env = dict(os.environ if env is None else env)
    child_env["JUPYTER_TOKEN"] = token  # not on the command line, where `ps` shows it
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, env=child_env, start_new_session=True
    )
    url = f"http://{host}:{port}"
    lab = ChildProcess("JupyterLab", url, token, process)
    atexit.register(lab.stop)
    _wait_until_answering(lab, f"{url}/api/status?token={token}", timeout)
    return lab


def prepare_workspace(
    notebook: str | os.PathLike, workspace: str | os.PathLike = WORKSPACE
) -> Path:
    """Copy the notebooks beside `notebook` into `workspace` and return the copy of
    `notebook`. A copy already there is kept (it holds the user's edits and outputs);
    delete the directory to start again from the tracked notebooks."""
    source = Path(notebook)
    target_dir = Path(workspace)
    target_dir.mkdir(parents=True, exist_ok=True)
    for original in sorted(source.parent.glob("*.ipynb")):
        copy = target_dir / original.name
        if not copy.exists():
            shutil.copyfile(original, copy)
    if not (target_dir / source.name).exists():
        raise RunReplayError(
            f"notebook {source} does not exist; pass --notebook notebooks/<name>.ipynb"
        )
    return target_dir / source.name


def _check_port_free(port: int, option: str, host: str = "127.0.0.1") -> None:
    """Refuse a port something listens on already, before anything starts: the demo's
    health check would otherwise be answered by that other server (another demo, say)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise RunReplayError(
                f"port {port} on {host} is taken ({error.strerror}): another demo or server "
                f"runs there; stop it, or choose another with {option}, e.g. "
                f'make demo DEMO_ARGS="--api-port 8766 --lab-port 8889"'
            ) from None


def _wait_until_answering(child: ChildProcess, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not child.is_running():
            tail = child.log_tail()
            child.stop()
            raise RunReplayError(
                f"{child.name} exited with status {child.process.returncode} before answering "
                f"on {child.url}" + (f"; its log ends:\n{tail}" if tail else "")
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            tail = child.log_tail()
            child.stop()
            raise RunReplayError(
                f"{child.name} did not answer on {child.url} within {timeout:.0f} s"
                + (f"; its log ends:\n{tail}" if tail else "")
            )
        time.sleep(0.1)


# -- python -m runreplay.demo --------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m runreplay.demo",
        description="Load data/, start the reference core API and JupyterLab; Ctrl-C stops both.",
    )
    parser.add_argument("--data", default="data", help="run files to load (default: data)")
    parser.add_argument("--db", default="runs.duckdb", help="the analysis store (runs.duckdb)")
    parser.add_argument("--server-db", default="server.duckdb", help="the server's own DuckDB file")
    parser.add_argument("--notebook", default=DEFAULT_NOTEBOOK, help="the notebook to open")
    parser.add_argument("--api-port", type=int, default=8765, help="core API port (8765)")
    parser.add_argument("--lab-port", type=int, default=8888, help="JupyterLab port (8888)")
    parser.add_argument(
        "--no-browser", action="store_true", help="start everything but open no browser"
    )
    parser.add_argument(
        "--event-delay",
        type=float,
        default=0.25,
        help="seconds the demo executor spends per history event (0.25)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo until Ctrl-C (SIGINT) or SIGTERM; returns the exit status."""
    import runreplay

    options = _arguments(argv)
    stop_requested = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    children: list[ChildProcess] = []
    try:
        _check_port_free(options.api_port, "--api-port")
        _check_port_free(options.lab_port, "--lab-port")
        db = Path(options.db).resolve()
        with runreplay.open(db) as store:
            print(f"{store.load(options.data)} -> {db}", flush=True)
        server = start_reference_server(
            options.data,
            Path(options.server_db).resolve(),
            port=options.api_port,
            operator="demo",
            event_delay=options.event_delay,
            quiet=False,
        )
        children.append(server)
        print(f"core API answering (pid {server.pid}); starting JupyterLab…", flush=True)
        lab_env = dict(os.environ)
        lab_env.update(
            RUNREPLAY_API_URL=server.url, RUNREPLAY_TOKEN=server.token, RUNREPLAY_DB=str(db)
        )
        notebook = prepare_workspace(options.notebook).as_posix()
        lab = start_jupyterlab(
            notebook,
            port=options.lab_port,
            open_browser=not options.no_browser,
            env=lab_env,
            extra_args=LAB_QUIET_ARGS,
        )
        children.append(lab)
        print(
            f"JupyterLab on {lab.url}/lab/tree/{notebook}?token={lab.token} (pid {lab.pid})\n"
            f"(copies of notebooks/ in {WORKSPACE}/: edit and run them freely; the tracked "
            "notebooks stay as committed)\n"
            f"next: {WORKSPACE}/02_drift_across_runs.ipynb (drift, bisect, DriftPanel) and "
            "03_replay_with_prior_inputs.ipynb (replay through the core API)\n"
            "for the command line (runreplay replay / audit / diff --api), in another shell:\n"
            f"    export RUNREPLAY_API_URL={server.url} RUNREPLAY_TOKEN={server.token}\n"
            "demo ready: Ctrl-C stops JupyterLab and the core API",
            flush=True,
        )
        while not stop_requested:
            for child in children:
                if not child.is_running():
                    print(
                        f"{child.name} exited with status {child.process.returncode}; "
                        "stopping the demo",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
            time.sleep(0.2)
        print("stopping JupyterLab and the core API…", flush=True)
        return 0
    except RunReplayError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        for child in reversed(children):
            child.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
