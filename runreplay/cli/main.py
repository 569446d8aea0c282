"""The `runreplay` command group: each command lives in the module of its kind."""

from __future__ import annotations

import signal
from typing import Any

import click

import runreplay
from runreplay.cli import analysis, api, records


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(runreplay.__version__, prog_name="runreplay")
def main() -> None:
    """Compare, analyse and replay workflow runs stored in DuckDB."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM (`kill`, a supervisor, a CI timeout) ends a command the way Ctrl-C does:
    by an exception, so a load removes its staged files and stops its workers (without
    this, Python ends at once and leaves both behind); the store keeps what it held."""
    raise SystemExit(128 + signum)


for _command in (
    records.load,
    records.runs,
    records.workflows,
    records.schema,
    records.sample,
    analysis.diff,
    analysis.drift,
    analysis.bisect,
    api.serve,
    api.replay,
    api.audit,
):
    main.add_command(_command)
