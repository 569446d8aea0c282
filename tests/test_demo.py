"""`python -m runreplay.demo` (make demo): loads, starts the core API and JupyterLab, and
Ctrl-C stops both; `start_reference_server` for notebooks and tests."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

import runreplay
from runreplay.client import CoreAPI
from runreplay.demo import free_port, start_reference_server
from runreplay.errors import RunReplayError
from tests.conftest import ROOT, SAMPLE

NOTEBOOK = "01_compare_two_runs.ipynb"


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return None


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def demo_dir(tmp_path):
    """What the demo needs from a checkout: data/ and the notebook."""
    (tmp_path / "data").mkdir()
    (tmp_path / "notebooks").mkdir()
    shutil.copyfile(SAMPLE, tmp_path / "data" / SAMPLE.name)
    shutil.copyfile(ROOT / "notebooks" / NOTEBOOK, tmp_path / "notebooks" / NOTEBOOK)
    return tmp_path


def test_prepare_workspace_copies_the_notebooks_once_and_keeps_edits(tmp_path):
    from runreplay.demo import prepare_workspace

    (tmp_path / "notebooks").mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        (tmp_path / "notebooks" / name).write_text("{}")
    opened = prepare_workspace(tmp_path / "notebooks" / "a.ipynb", tmp_path / "work")
    assert opened == tmp_path / "work" / "a.ipynb"
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["a.ipynb", "b.ipynb"]
    opened.write_text('{"edited": true}')
    prepare_workspace(tmp_path / "notebooks" / "a.ipynb", tmp_path / "work")
    assert opened.read_text() == '{"edited": true}'
    with pytest.raises(runreplay.RunReplayError, match="--notebook"):
        prepare_workspace(tmp_path / "notebooks" / "missing.ipynb", tmp_path / "work")


@pytest.mark.slow
def test_demo_starts_the_api_and_jupyterlab_and_ctrl_c_stops_both(demo_dir):
    api_port, lab_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNREPLAY_")}
    env.update(
        JUPYTER_RUNTIME_DIR=str(demo_dir / "runtime"),
        JUPYTER_CONFIG_DIR=str(demo_dir / "jupyter-config"),
        PYTHONUNBUFFERED="1",
    )
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runreplay.demo",
            "--no-browser",
            "--api-port",
            str(api_port),
            "--lab-port",
            str(lab_port),
            "--event-delay",
            "0.01",
        ],  # fmt: skip
        cwd=demo_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in demo.stdout:
            lines.append(line)
            if "demo ready" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not ready.wait(0.2):
            if demo.poll() is not None or time.monotonic() > deadline:
                reader.join(5)
                pytest.fail("the demo did not get ready:\n" + "".join(lines[-40:]))
        output = "".join(lines)
        api_url = f"http://127.0.0.1:{api_port}"
        assert f"runreplay core API on {api_url}" in output
        lab = re.search(rf"JupyterLab on (http://127\.0\.0\.1:{lab_port})\S*\?token=(\S+)", output)
        assert lab, output
        assert f"/lab/tree/demo-notebooks/{NOTEBOOK}?token=" in output
        pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", output)]
        assert len(pids) == 2

        assert _status(f"{api_url}/health") == 200
        assert _status(f"{lab.group(1)}/api/status?token={lab.group(2)}") == 200
        # the line the command line needs works as printed
        exported = re.search(r"export RUNREPLAY_API_URL=(\S+) RUNREPLAY_TOKEN=(\S+)", output)
        assert exported and exported.group(1) == api_url, output
        request = urllib.request.Request(
            f"{api_url}/workflow-runs?limit=1",
            headers={"Authorization": f"Bearer {exported.group(2)}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        assert "loaded 423 run(s)" in output

        demo.send_signal(signal.SIGINT)  # what Ctrl-C sends to the demo in a terminal
        assert demo.wait(60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
        for pid in re.findall(r"\(pid (\d+)\)", "".join(lines)):
            if not _gone(int(pid)):
                os.killpg(int(pid), signal.SIGKILL)
    reader.join(10)
    assert all(_gone(pid) for pid in pids)
    assert _status(f"{api_url}/health") is None
    assert _status(f"{lab.group(1)}/api/status") is None
    assert "stopping JupyterLab and the core API" in "".join(lines)
    with runreplay.open(demo_dir / "runs.duckdb", read_only=True) as store:
        assert store.counts()["runs"] == 423
    assert (demo_dir / "server.duckdb").exists()
    # Lab worked on a copy: the tracked notebook is byte for byte what was checked out
    copy = demo_dir / "demo-notebooks" / NOTEBOOK
    assert copy.exists()
    assert (demo_dir / "notebooks" / NOTEBOOK).read_bytes() == (
        ROOT / "notebooks" / NOTEBOOK
    ).read_bytes()


@pytest.mark.parametrize("taken", ["--api-port", "--lab-port"])
def test_a_demo_port_in_use_stops_the_demo_before_it_starts_anything(demo_dir, taken):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        ports = {"--api-port": str(free_port()), "--lab-port": str(free_port()), taken: str(busy)}
        done = subprocess.run(
            [sys.executable, "-m", "runreplay.demo", "--no-browser",
             *[item for pair in ports.items() for item in pair]],
            cwd=demo_dir, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"port {busy} on 127.0.0.1 is taken" in done.stderr and taken in done.stderr
    assert "DEMO_ARGS=" in done.stderr
    assert not (demo_dir / "runs.duckdb").exists()  # nothing started or loaded


def test_reference_server_answers_with_its_token_and_stops(tmp_path):
    server = start_reference_server(SAMPLE, tmp_path / "server.duckdb", execute=False)
    try:
        with CoreAPI(server.url, server.token, retries=0) as api:
            assert api.run("run-000345")["status"] == "SUCCEEDED"
        assert server.token not in " ".join(server.process.args)
    finally:
        server.stop()
    assert not server.is_running()
    assert _status(f"{server.url}/health") is None


def test_reference_server_that_cannot_start_says_why(tmp_path):
    with pytest.raises(RunReplayError, match="exited with status .* log ends"):
        start_reference_server(tmp_path / "missing.ndjson", tmp_path / "server.duckdb")
