"""What the benchmarks share: run one measurement in a fresh child process, read its peak RSS.

A benchmark script re-runs itself with `--child ...`; the child prints one JSON line with
its figures, so peak RSS (from resource.getrusage) belongs to that one implementation.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreeRss:
    """Samples the memory of this process and all its descendants (a load's fork server
    and worker processes) every `interval` seconds, as the sum of their proportional set
    sizes (pages the forks share are counted once); `peak_mib` is the largest sum seen.
    Linux only (reads /proc); use as a context manager around the measured work.
    """

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, _tree_rss_mib())

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mib = max(self.peak_mib, _tree_rss_mib())


def _tree_rss_mib() -> float:
    """Current PSS of this process and its descendants, in MiB."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue  # the process ended meanwhile
            parents[int(entry)] = int(fields[1])
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    kib = 0
    for pid in tree:  # proportional set size: pages a fork shares count once, split
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
                kib += next(int(line.split()[1]) for line in rollup if line.startswith(b"Pss:"))
        except (OSError, StopIteration):
            continue
    return kib / 1024


def run_child(script: str, *args: str) -> dict:
    """Run `python script --child ARGS...` and return the JSON its last output line holds."""
    out = subprocess.run(
        [sys.executable, script, "--child", *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{script} --child {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
