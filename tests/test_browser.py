"""The compare notebook in a real headless Chromium: pick runs, see highlights and the stale
banner, replay through the core API, and find the new run in the server's audit log.

The notebook runs under Voila (the notebook as an app, driven by a kernel, as in JupyterLab)
against `runreplay serve --execute`, both on free 127.0.0.1 ports with random tokens.
Screenshots go to the test's tmp dir; with RUNREPLAY_UPDATE_SCREENSHOT=1 the panel's
screenshot also replaces docs/compare-panel.png (the README's picture).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runreplay.client import CoreAPI
from runreplay.demo import free_port, start_reference_server
from tests.conftest import ROOT, SAMPLE

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("RUNREPLAY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTEBOOK = "01_compare_two_runs.ipynb"
SCREENSHOT = ROOT / "docs" / "compare-panel.png"
WAIT_MS = 60_000
LAST_GOOD, FIRST_BAD = "run-000345", "run-000347"


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser test needs Chromium at {CHROMIUM}, which is missing: "
            "apt-get install chromium (or set RUNREPLAY_CHROMIUM)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="browser test needs the playwright package"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def workspace(tmp_path):
    """notebooks/ and data/ side by side, as in the repository (the notebook reads ../data)."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "data").mkdir()
    shutil.copyfile(ROOT / "notebooks" / NOTEBOOK, tmp_path / "notebooks" / NOTEBOOK)
    shutil.copyfile(SAMPLE, tmp_path / "data" / SAMPLE.name)
    return tmp_path


@pytest.fixture
def core_api(workspace):
    server = start_reference_server(
        workspace / "data", workspace / "server.duckdb", execute=True, log=workspace / "server.log"
    )
    yield server
    server.stop()


@pytest.fixture
def voila(workspace, core_api):
    """Voila serving the compare notebook, with the core API in its kernel's environment."""
    if shutil.which("voila", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("browser test needs voila in the test environment (pip install voila)")
    port, token = free_port(), secrets.token_urlsafe(16)
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNREPLAY_")}
    env.update(
        RUNREPLAY_API_URL=core_api.url,
        RUNREPLAY_TOKEN=core_api.token,
        JUPYTER_RUNTIME_DIR=str(workspace / "runtime"),
    )
    log = workspace / "voila.log"
    with open(log, "w", encoding="utf-8") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voila",
                f"notebooks/{NOTEBOOK}",
                "--no-browser",
                f"--port={port}",
                "--Voila.ip=127.0.0.1",
                f"--token={token}",
            ],  # fmt: skip
            cwd=workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}/?token={token}"
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"voila exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"voila did not listen on port {port} within {timeout} s")


def _pick(panel, picker_class: str, run_id: str) -> None:
    """Type part of the id into the picker's search box, then click the run in the list."""
    picker = panel.locator(f".{picker_class}")
    picker.locator("input[type=text]").fill(run_id[-3:])
    option = picker.locator("select option", has_text=run_id)
    option.wait_for(state="attached", timeout=WAIT_MS)
    picker.locator("select").select_option(label=option.inner_text(timeout=WAIT_MS))


def test_compare_notebook_picks_runs_and_replays_in_a_real_browser(
    chromium, voila, core_api, workspace
):
    page = chromium.new_page(viewport={"width": 1300, "height": 1100})
    shots = workspace / "screenshots"
    shots.mkdir()
    try:
        page.goto(voila, timeout=WAIT_MS)
        panel = page.locator(".rr-compare-panel")
        panel.wait_for(state="visible", timeout=120_000)
        page.screenshot(path=shots / "01-opened.png", full_page=True)

        _pick(panel, "rr-base-picker", LAST_GOOD)
        _pick(panel, "rr-compare-picker", FIRST_BAD)
        summary = panel.locator(".rr-summary")
        summary.filter(has_text=f"{LAST_GOOD} → {FIRST_BAD}").wait_for(timeout=WAIT_MS)

        changed = panel.locator('tr.rr-row-changed[data-path="parameters.batchSize"]')
        changed.wait_for(state="visible", timeout=WAIT_MS)
        cells = changed.locator("td.rr-value").all_inner_texts()
        assert cells == ["500", "5000"]
        colour = changed.locator("td.rr-kind").evaluate(
            "cell => getComputedStyle(cell).backgroundColor"
        )
        assert colour == "rgb(255, 248, 197)", colour  # amber: changed

        banner = panel.locator(".rr-stale-banner")
        assert banner.is_visible()
        assert "warehouse/orders" in banner.inner_text()
        panel.screenshot(path=shots / "02-regression.png")
        if os.environ.get("RUNREPLAY_UPDATE_SCREENSHOT"):
            SCREENSHOT.parent.mkdir(exist_ok=True)
            panel.screenshot(path=SCREENSHOT)

        panel.locator(".rr-replay button, button.rr-replay").first.click()
        confirm = panel.locator("button.rr-confirm, .rr-confirm button").first
        confirm.wait_for(state="visible", timeout=WAIT_MS)
        assert "refused to replay run-000345" in banner.inner_text()
        page.screenshot(path=shots / "03-stale-refusal.png", full_page=True)

        confirm.click()
        toast_id = panel.locator(".rr-toast .rr-toast-run-id")
        toast_id.wait_for(state="visible", timeout=WAIT_MS)
        new_run_id = toast_id.inner_text()
        page.screenshot(path=shots / "04-toast.png", full_page=True)
    except Exception:
        page.screenshot(path=shots / "failure.png", full_page=True)
        raise
    finally:
        page.close()

    assert re.fullmatch(r"run-[0-9a-z-]+", new_run_id), new_run_id
    with CoreAPI(core_api.url, core_api.token) as api:
        audit = api.audit(LAST_GOOD)
    assert [(row["outcome"], row["allowStaleAssets"], row["newRunId"]) for row in audit] == [
        ("stale_assets", False, None),
        ("enqueued", True, new_run_id),
    ]
