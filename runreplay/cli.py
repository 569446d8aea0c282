"""`runreplay ...`: the command line, a thin layer over the library (one command, one call)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
import pandas as pd

import runreplay
from runreplay.errors import RunReplayError
from runreplay.model import dumps, json_schema

DB_OPTION = click.option(
    "--db",
    default="runs.duckdb",
    show_default=True,
    envvar="RUNREPLAY_DB",
    type=click.Path(dir_okay=False),
    help="The DuckDB store file (env RUNREPLAY_DB).",
)


def _fail_cleanly(command: Callable) -> Callable:
    """Turn a RunReplayError into one line on stderr and exit status 1 (no traceback)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RunReplayError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            sys.exit(1)

    return wrapper


def _open(db: str, read_only: bool) -> runreplay.Store:
    return runreplay.open(db, read_only=read_only)


def _echo_frame(frame: pd.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        click.echo(dumps([{k: _jsonable(v) for k, v in row.items()} for row in records]))
    elif frame.empty:
        click.echo("(no rows)")
    else:
        with pd.option_context("display.max_rows", None, "display.width", 200):
            click.echo(frame.to_string(index=False))


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "item"):
        return value.item()
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(runreplay.__version__, prog_name="runreplay")
def main() -> None:
    """Compare, analyse and replay workflow runs stored in DuckDB."""


@main.command()
@click.argument("sources", nargs=-1, required=True)
@DB_OPTION
@click.option("--replace", is_flag=True, help="Overwrite stored runs whose content differs.")
@click.option("--skip-bad", is_flag=True, help="Load the valid records and list the bad ones.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: big loads).")
@_fail_cleanly
def load(sources: tuple[str, ...], db: str, replace: bool, skip_bad: bool, progress: bool | None):
    """Load NDJSON / JSON / Parquet exports (files, globs or directories) into the store."""
    with _open(db, read_only=False) as store:
        result = store.load(
            *sources,
            replace=replace,
            on_error="skip" if skip_bad else "raise",
            progress=progress,
        )
    for error in result.errors:
        click.secho(f"skipped: {error}", fg="yellow", err=True)
    click.echo(f"{result} -> {db}")


@main.command()
@DB_OPTION
@click.option("--workflow", "-w", help="Only runs of this workflow.")
@click.option("--status", "-s", type=click.Choice(runreplay.model.STATUSES, case_sensitive=False))
@click.option("--since", help="Only runs created at or after this ISO 8601 time.")
@click.option("--until", help="Only runs created before this ISO 8601 time.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
    show_default=True,
)  # fmt: skip
@_fail_cleanly
def runs(db: str, workflow, status, since, until, limit: int, fmt: str) -> None:
    """List runs, newest first."""
    with _open(db, read_only=True) as store:
        frame = store.runs(workflow=workflow, status=status, since=since, until=until, limit=limit)
    _echo_frame(frame, fmt)


@main.command()
@DB_OPTION
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
    show_default=True,
)  # fmt: skip
@_fail_cleanly
def workflows(db: str, fmt: str) -> None:
    """Workflows with run counts by status and their first and last run."""
    with _open(db, read_only=True) as store:
        frame = store.workflows()
    _echo_frame(frame, fmt)


@main.command()
def schema() -> None:
    """Print the JSON Schema of a run record."""
    click.echo(_pretty(json_schema()))


def _pretty(value: Any) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@main.command()
@click.option("--runs", "runs_per_workflow", type=click.IntRange(min=1), default=100,
              show_default=True, help="Runs per workflow.")  # fmt: skip
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--workflow", "-w", "workflows_", multiple=True, help="Workflows (default: all).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="NDJSON file to write (.gz compresses).")  # fmt: skip
@_fail_cleanly
def sample(runs_per_workflow: int, seed: int, workflows_: tuple[str, ...], output: str) -> None:
    """Write deterministic sample runs (with the planted stories) as NDJSON."""
    from runreplay import sample as sample_module

    chosen = workflows_ or sample_module.WORKFLOWS
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
    count = sample_module.write_ndjson(output, records)
    click.echo(f"wrote {count} runs to {output}")


if __name__ == "__main__":
    main()
