"""Commands over the store's records: load, runs, workflows, schema, sample."""

from __future__ import annotations

import os
from contextlib import suppress
from typing import Any

import click

import runreplay
from runreplay.cli.common import (
    DB_OPTION,
    OUTPUT_PATH,
    TABLE_FORMAT_OPTION,
    TIME,
    echo_frame,
    fail_cleanly,
    open_store,
    writing,
)
from runreplay.model import json_schema


@click.command()
@click.argument("sources", nargs=-1, required=True)
@DB_OPTION
@click.option("--replace", is_flag=True, help="Overwrite stored runs whose content differs.")
@click.option("--skip-bad", is_flag=True, help="Load the valid records and list the bad ones.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: big loads).")
@fail_cleanly
def load(sources: tuple[str, ...], db: str, replace: bool, skip_bad: bool, progress: bool | None):
    """Load NDJSON / JSON / Parquet exports (files, globs or directories) into the store."""
    created = db != ":memory:" and not os.path.lexists(db)
    try:
        with open_store(db, read_only=False) as store:
            result = store.load(
                *sources,
                replace=replace,
                on_error="skip" if skip_bad else "raise",
                progress=progress,
            )
    except BaseException:
        if created:  # a failed first load leaves no empty store behind (a mistyped --db)
            for made in (db, f"{db}.wal"):
                with suppress(FileNotFoundError):
                    os.remove(made)
        raise
    for error in result.errors:
        click.secho(f"skipped: {error}", fg="yellow", err=True)
    click.echo(f"{result} -> {db}")


@click.command()
@DB_OPTION
@click.option("--workflow", "-w", help="Only runs of this workflow.")
@click.option("--status", "-s", type=click.Choice(runreplay.model.STATUSES, case_sensitive=False))
@click.option("--since", type=TIME, help="Only runs created at or after this ISO 8601 time.")
@click.option("--until", type=TIME, help="Only runs created before this ISO 8601 time.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@TABLE_FORMAT_OPTION
@fail_cleanly
def runs(db: str, workflow, status, since, until, limit: int, fmt: str) -> None:
    """List runs, newest first."""
    with open_store(db, read_only=True) as store:
        frame = store.runs(workflow=workflow, status=status, since=since, until=until, limit=limit)
    echo_frame(frame, fmt)


@click.command()
@DB_OPTION
@TABLE_FORMAT_OPTION
@fail_cleanly
def workflows(db: str, fmt: str) -> None:
    """Workflows with run counts by status and their first and last run."""
    with open_store(db, read_only=True) as store:
        frame = store.workflows()
    echo_frame(frame, fmt)


@click.command()
def schema() -> None:
    """Print the JSON Schema of a run record."""
    click.echo(_pretty(json_schema()))


def _pretty(value: Any) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@click.command()
@click.option("--runs", "runs_per_workflow", type=click.IntRange(min=1), default=100,
              show_default=True, help="Runs per workflow.")  # fmt: skip
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--workflow", "-w", "workflows_", multiple=True, help="Workflows (default: all).")
@click.option("-o", "--output", required=True, type=OUTPUT_PATH,
              help="NDJSON file to write (.gz compresses).")  # fmt: skip
@fail_cleanly
def sample(runs_per_workflow: int, seed: int, workflows_: tuple[str, ...], output: str) -> None:
    """Write deterministic sample runs (with the planted stories) as NDJSON."""
    from runreplay import sample as sample_module

    chosen = workflows_ or sample_module.WORKFLOWS
    if len(set(chosen)) < len(chosen):
        raise click.BadParameter(
            f"{', '.join(chosen)} names a workflow twice; name each once",
            param_hint="--workflow",
        )
    unknown = sorted(set(chosen) - set(sample_module.WORKFLOWS))
    if unknown:
        raise click.BadParameter(
            f"unknown workflow(s) {', '.join(unknown)}; choose from "
            f"{', '.join(sample_module.WORKFLOWS)}",
            param_hint="--workflow",
        )
    records = sample_module.generate(
        workflows=tuple(chosen), runs_per_workflow=runs_per_workflow, seed=seed
    )
    with writing(output):
        count = sample_module.write_ndjson(output, records)
    click.echo(f"wrote {count} runs to {output}")
