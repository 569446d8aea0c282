"""What the benchmarks share: run one measurement in a fresh child process, read its peak RSS.

A benchmark script re-runs itself with `--child ...`; the child prints one JSON line with
its figures, so peak RSS (from resource.getrusage) belongs to that one implementation.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: str, *args: str) -> dict:
    """Run `python script --child ARGS...` and return the JSON its last output line holds."""
    out = subprocess.run(
        [sys.executable, script, "--child", *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{script} --child {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
