"""The committed notebooks: outputs only where nbval checks them, nothing machine-specific.

Running them is nbval's job (`pytest --nbval-lax notebooks/`); this checks what is committed.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECKED = "nbval-check-output"
MACHINE_SPECIFIC = re.compile(r"(/home/|/root/|/tmp/|/work/|/Users/|[A-Z]:\\\\|127\.0\.0\.1:\d+)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_notebook_has_outputs_only_in_checked_cells(path):
    notebook = json.loads(path.read_text("utf-8"))
    assert "widgets" not in notebook["metadata"], "saved widget state: clear it before committing"
    for number, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        checked = CHECKED in cell.get("metadata", {}).get("tags", [])
        if not checked:
            assert not cell["outputs"], f"{path.name} cell {number}: output of an unchecked cell"
        for output in cell["outputs"]:
            assert output["output_type"] == "stream", f"{path.name} cell {number}: {output}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_notebook_holds_no_machine_specific_paths(path):
    found = MACHINE_SPECIFIC.findall(path.read_text("utf-8"))
    assert not found, f"{path.name} holds {found}"


def test_the_worked_notebooks_exist():
    names = {path.name for path in NOTEBOOKS}
    assert {
        "01_compare_two_runs.ipynb",
        "02_drift_across_runs.ipynb",
        "03_replay_with_prior_inputs.ipynb",
    } <= names
