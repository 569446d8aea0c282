"""What every command shares: option types, output to a terminal or a file, one error exit."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

import click
import pandas as pd

import runreplay
from runreplay.errors import RunReplayError
from runreplay.model import as_utc, dumps, format_timestamp

DB_OPTION = click.option(
    "--db",
    default="runs.duckdb",
    show_default=True,
    envvar="RUNREPLAY_DB",
    type=click.Path(dir_okay=False),
    help="The DuckDB store file (env RUNREPLAY_DB).",
)


TABLE_FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
    show_default=True, help="How to print the rows.",
)  # fmt: skip


class _Checked(click.ParamType):
    """Text that `check` accepts (it raises RunReplayError otherwise), so a bad value is a
    usage error (exit 2), like any other bad option value; passed on as given."""

    def __init__(self, name: str, check: Callable[[str], Any]) -> None:
        self.name = name
        self.check = check

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            self.check(value)
        except RunReplayError as error:
            self.fail(str(error), param, ctx)
        return value


def _predicate(text: str) -> None:
    from runreplay.predicate import compile_predicate

    compile_predicate(text)


def _glob(text: str) -> None:
    from runreplay.paths import compile_glob

    compile_glob(text)


TIME = _Checked("TIME", as_utc)  # a date alone, or a time without a zone, is UTC
PREDICATE = _Checked("EXPR", _predicate)
PATH_GLOB = _Checked("GLOB", _glob)


class _OutputPath(click.Path):
    """A file to write: not a directory, and not empty (which names the current one)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False)

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not str(value).strip():
            self.fail("an empty file name; give the file to write", param, ctx)
        return super().convert(value, param, ctx)


OUTPUT_PATH = _OutputPath()


def fail_cleanly(command: Callable) -> Callable:
    """Turn a RunReplayError into one line on stderr and exit status 1 (no traceback), and
    a DuckDB query stopped by Ctrl-C into the KeyboardInterrupt it was (click prints
    "Aborted!"; DuckDB's Python client raises RuntimeError("Query interrupted"))."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RunReplayError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            sys.exit(1)
        except RuntimeError as error:
            from runreplay.store import interrupted_query  # imported already if DuckDB raised

            if interrupted_query(error):
                raise KeyboardInterrupt from None
            raise

    return wrapper


def open_store(db: str, read_only: bool) -> runreplay.Store:
    return runreplay.open(db, read_only=read_only)


def echo_frame(frame: pd.DataFrame, fmt: str) -> None:
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


def use_color(output: str | None) -> bool:
    return output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ


def emit(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text)
    else:
        with writing(output):
            Path(output).write_text(text if text.endswith("\n") else text + "\n", "utf-8")
        click.echo(f"wrote {output}", err=True)


@contextmanager
def writing(output: str) -> Iterator[None]:
    """An OSError while writing `output` as one clear line (via fail_cleanly)."""
    try:
        yield
    except OSError as error:
        raise RunReplayError(
            f"cannot write {output!r}: {error.strerror or error}; check that its directory "
            "exists and that you may write there"
        ) from None


FORMAT_CHOICE = click.Choice(["text", "markdown", "html", "json"])


def check_window(since: str | None, until: str | None) -> None:
    """--since after --until is a usage error (exit 2), like a --since that does not parse."""
    if since is None or until is None:
        return
    start, end = as_utc(since), as_utc(until)
    if start >= end:
        raise click.UsageError(
            f"--since ({format_timestamp(start)}) must be before --until ({format_timestamp(end)})"
        )


def api_client(api_url: str | None, token: str | None):
    """A CoreAPI for --api / --token (imported only by the commands that talk to it)."""
    from runreplay.client import CoreAPI

    return CoreAPI(api_url, token)
