"""`runreplay ...`: the command line, a thin layer over the library (one command, one call)."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import wraps
from pathlib import Path
from typing import Any

import click
import pandas as pd

import runreplay
from runreplay.errors import RunReplayError
from runreplay.model import as_utc, dumps, format_timestamp, json_schema

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


def _fail_cleanly(command: Callable) -> Callable:
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
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM (`kill`, a supervisor, a CI timeout) ends a command the way Ctrl-C does:
    by an exception, so a load removes its staged files and stops its workers (without
    this, Python ends at once and leaves both behind); the store keeps what it held."""
    raise SystemExit(128 + signum)


@main.command()
@click.argument("sources", nargs=-1, required=True)
@DB_OPTION
@click.option("--replace", is_flag=True, help="Overwrite stored runs whose content differs.")
@click.option("--skip-bad", is_flag=True, help="Load the valid records and list the bad ones.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: big loads).")
@_fail_cleanly
def load(sources: tuple[str, ...], db: str, replace: bool, skip_bad: bool, progress: bool | None):
    """Load NDJSON / JSON / Parquet exports (files, globs or directories) into the store."""
    created = db != ":memory:" and not os.path.lexists(db)
    try:
        with _open(db, read_only=False) as store:
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


@main.command()
@DB_OPTION
@click.option("--workflow", "-w", help="Only runs of this workflow.")
@click.option("--status", "-s", type=click.Choice(runreplay.model.STATUSES, case_sensitive=False))
@click.option("--since", type=TIME, help="Only runs created at or after this ISO 8601 time.")
@click.option("--until", type=TIME, help="Only runs created before this ISO 8601 time.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@TABLE_FORMAT_OPTION
@_fail_cleanly
def runs(db: str, workflow, status, since, until, limit: int, fmt: str) -> None:
    """List runs, newest first."""
    with _open(db, read_only=True) as store:
        frame = store.runs(workflow=workflow, status=status, since=since, until=until, limit=limit)
    _echo_frame(frame, fmt)


@main.command()
@DB_OPTION
@TABLE_FORMAT_OPTION
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
@click.option("-o", "--output", required=True, type=OUTPUT_PATH,
              help="NDJSON file to write (.gz compresses).")  # fmt: skip
@_fail_cleanly
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
    with _writing(output):
        count = sample_module.write_ndjson(output, records)
    click.echo(f"wrote {count} runs to {output}")


# -- comparing runs -------------------------------------------------------------------------


def _use_color(output: str | None) -> bool:
    return output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _emit(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text)
    else:
        with _writing(output):
            Path(output).write_text(text if text.endswith("\n") else text + "\n", "utf-8")
        click.echo(f"wrote {output}", err=True)


@contextmanager
def _writing(output: str) -> Iterator[None]:
    """An OSError while writing `output` as one clear line (via _fail_cleanly)."""
    try:
        yield
    except OSError as error:
        raise RunReplayError(
            f"cannot write {output!r}: {error.strerror or error}; check that its directory "
            "exists and that you may write there"
        ) from None


FORMAT_CHOICE = click.Choice(["text", "markdown", "html", "json"])


@main.command()
@click.argument("base")
@click.argument("compare")
@DB_OPTION
@click.option("--api", "api_url", help="Diff through the core API at this URL instead of --db.")
@click.option("--token", envvar="RUNREPLAY_TOKEN", help="Bearer token for --api.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
@click.option("-o", "--output", type=OUTPUT_PATH, help="Write to a file.")
@click.option(
    "--ignore", multiple=True, type=PATH_GLOB, help="Path glob to leave out (repeatable)."
)
@click.option("--show-volatile", is_flag=True, help="Show fields that change in nearly every run.")
@_fail_cleanly
def diff(base: str, compare: str, db: str, api_url: str | None, token: str | None, fmt: str,
         output: str | None, ignore: tuple[str, ...], show_volatile: bool) -> None:  # fmt: skip
    """Compare run BASE with run COMPARE: fields, status histories, assets, stale warnings."""
    from runreplay.report import render

    if api_url:
        with _api(api_url, token) as api:
            run_diff = api.diff(base, compare, ignore=ignore)
    else:
        with _open(db, read_only=True) as store:
            run_diff = store.diff(base, compare, ignore=ignore)
    text = render(run_diff, fmt, color=fmt == "text" and _use_color(output),
                  show_volatile=show_volatile)  # fmt: skip
    _emit(text, output)


# -- drift across many runs ----------------------------------------------------------------

SECTIONS = ("parameters", "context", "output")
FAILING_OPTION = click.option(
    "--failing",
    type=PREDICATE,
    help="What counts as failing (default: status == 'FAILED'; e.g. \"output.metrics.auc < 0.9\").",
)


@main.command()
@click.argument("workflow", required=False)
@click.option("--all", "all_workflows", is_flag=True, help="Every workflow at once (triage).")
@DB_OPTION
@click.option("--since", type=TIME, help="Only runs created at or after this ISO 8601 time.")
@click.option("--until", type=TIME, help="Only runs created before this ISO 8601 time.")
@click.option("--section", "sections", multiple=True, type=click.Choice(SECTIONS),
              help="Field section to analyse (repeatable; default: all three).")  # fmt: skip
@click.option(
    "--ignore", multiple=True, type=PATH_GLOB, help="Path glob to leave out (repeatable)."
)
@FAILING_OPTION
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
@click.option("-o", "--output", type=OUTPUT_PATH, help="Write to a file.")
@click.option("--show-volatile", is_flag=True, help="List fields that change in nearly every run.")
@_fail_cleanly
def drift(workflow: str | None, all_workflows: bool, db: str, since: str | None,
          until: str | None, sections: tuple[str, ...], ignore: tuple[str, ...],
          failing: str | None, fmt: str, output: str | None, show_volatile: bool) -> None:  # fmt: skip
    """Which fields of WORKFLOW's runs changed, when, and which line up with failing runs.

    With --all instead of WORKFLOW: one row per workflow (runs, failure rate, drifted
    fields, top suspect) for bulk triage.
    """
    from runreplay.report import render_drift, render_drift_summary

    if all_workflows == (workflow is not None):
        raise click.UsageError("give a WORKFLOW or --all (not both)")
    _check_window(since, until)
    options = {"sections": sections or SECTIONS, "ignore": ignore, "failing": failing}
    color = fmt == "text" and _use_color(output)
    with _open(db, read_only=True) as store:
        if all_workflows:
            summary = store.drift_summary(since, until, **options)
            text = render_drift_summary(
                summary, fmt, since=since, until=until, failing=failing, color=color
            )
        else:
            report = store.drift(workflow, since, until, **options)
            text = render_drift(report, fmt, color=color, show_volatile=show_volatile)
    _emit(text, output)


@main.command()
@click.argument("workflow")
@DB_OPTION
@FAILING_OPTION
@click.option("--bad", help="The first bad run (default: the first failing run).")
@click.option("--good", help="The last good run (default: the last run before --bad that "
              "succeeded and is not failing).")  # fmt: skip
@click.option("--since", type=TIME, help="Search runs created at or after this ISO 8601 time.")
@click.option("--until", type=TIME, help="Search runs created before this ISO 8601 time.")
@click.option(
    "--ignore", multiple=True, type=PATH_GLOB, help="Path glob to leave out (repeatable)."
)
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
@click.option("-o", "--output", type=OUTPUT_PATH, help="Write to a file.")
@_fail_cleanly
def bisect(workflow: str, db: str, failing: str | None, bad: str | None, good: str | None,
           since: str | None, until: str | None, ignore: tuple[str, ...], fmt: str,
           output: str | None) -> None:  # fmt: skip
    """Find WORKFLOW's last good and first bad run and rank the changes most likely to blame.

    --since / --until keep the search to a window, e.g. to bisect a new regression of a
    workflow that also failed long ago.
    """
    from runreplay.report import render_bisect

    _check_window(since, until)
    with _open(db, read_only=True) as store:
        found = store.bisect(
            workflow, bad=bad, good=good, failing=failing, since=since, until=until, ignore=ignore
        )
    _emit(render_bisect(found, fmt, color=fmt == "text" and _use_color(output)), output)


def _check_window(since: str | None, until: str | None) -> None:
    """--since after --until is a usage error (exit 2), like a --since that does not parse."""
    if since is None or until is None:
        return
    start, end = as_utc(since), as_utc(until)
    if start >= end:
        raise click.UsageError(
            f"--since ({format_timestamp(start)}) must be before --until ({format_timestamp(end)})"
        )


# -- the core API: serve, replay, audit ----------------------------------------------------

STALE_EXIT = 3
"""Exit status of `runreplay replay` when stale assets stopped it (nothing was enqueued)."""

API_URL_OPTION = click.option(
    "--api",
    "api_url",
    envvar="RUNREPLAY_API_URL",
    help="Core API base URL (env RUNREPLAY_API_URL; default http://127.0.0.1:8765).",
)
TOKEN_OPTION = click.option(
    "--token",
    envvar="RUNREPLAY_TOKEN",
    help="Bearer token (env RUNREPLAY_TOKEN; prefer the variable: options show in `ps`).",
)


def _api(api_url: str | None, token: str | None):
    from runreplay.client import CoreAPI

    return CoreAPI(api_url, token)


@main.command()
@click.option("--db", default="server.duckdb", show_default=True, envvar="RUNREPLAY_SERVER_DB",
              type=click.Path(dir_okay=False),
              help="The server's own DuckDB file, not a notebook's store (env RUNREPLAY_SERVER_DB).")  # fmt: skip
@click.option("--load", "sources", multiple=True,
              help="Load run files, globs or directories into the server first (repeatable).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0 picks a free one).")  # fmt: skip
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="'operator:token' lines. Default: RUNREPLAY_TOKENS, else <db>.tokens "
                   "(generated on first start).")  # fmt: skip
@click.option("--execute", is_flag=True, help="Run queued replays with the demo executor.")
@click.option("--event-delay", default=0.25, show_default=True, type=click.FloatRange(min=0),
              help="Seconds the demo executor spends on each history event.")  # fmt: skip
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))  # fmt: skip
@_fail_cleanly
def serve(db: str, sources: tuple[str, ...], host: str, port: int, token_file: str | None,
          execute: bool, event_delay: float, log_level: str) -> None:  # fmt: skip
    """Run the reference core API (diff, replay, audit) on this machine."""
    import logging

    from runreplay.server import app as server_app
    from runreplay.server.auth import resolve_tokens
    from runreplay.store import check_store_path

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    check_store_path(db)  # a bad --db fails before a token is generated and saved beside it
    token_source = resolve_tokens(token_file, db)
    if token_source.generated is not None:
        click.echo(
            f"generated a token for operator 'operator', saved to {token_source.path} "
            f"(mode 0600); it is shown only now:\n\n    {token_source.generated}\n\n"
            "use it with: export RUNREPLAY_TOKEN=<token>"
        )
    elif token_source.path is not None:
        from runreplay.server.auth import is_private

        if not is_private(token_source.path):
            click.secho(
                f"warning: {token_source.path} can be read by other users; chmod 600 it",
                fg="yellow",
                err=True,
            )
    if host not in server_app.LOOPBACK_HOSTS:
        click.secho(
            f"warning: listening on {host} exposes the API beyond this machine, and plain "
            "HTTP carries tokens in clear text; put TLS in front of it",
            fg="yellow",
            err=True,
        )
    app = server_app.create_app(db, token_source.tokens, execute=execute, event_delay=event_delay)
    store = app.state.runreplay.store
    if sources:
        click.echo(f"{store.load(*sources)} -> {db}")

    def ready(url: str) -> None:
        executor = "on" if execute else "off (--execute to run replays)"
        click.echo(
            f"runreplay core API on {url} (db {db}, tokens from {token_source.description}, "
            f"executor {executor})",
        )

    try:
        server_app.serve(app, host, port, log_level=log_level, on_ready=ready)
    except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised the Ctrl-C
        click.echo("stopped")


@main.command()
@click.argument("run_id")
@API_URL_OPTION
@TOKEN_OPTION
@click.option("--allow-stale-assets", is_flag=True,
              help="Replay even if assets the run produced are stale now.")  # fmt: skip
@click.option("--yes", "-y", is_flag=True, help="On a stale refusal, replay without asking.")
@click.option("--idempotency-key", help="Makes re-running this command safe (default: new UUID).")
@_fail_cleanly
def replay(run_id: str, api_url: str | None, token: str | None, allow_stale_assets: bool,
           yes: bool, idempotency_key: str | None) -> None:  # fmt: skip
    """Replay RUN_ID with its recorded inputs through the core API.

    When assets the run produced are stale, nothing is enqueued: the stale assets are
    listed and, on a terminal, you are asked to confirm. Without a terminal and without
    --yes the command exits with status 3.
    """
    with _api(api_url, token) as api:
        key = _confirmed_key(idempotency_key) if allow_stale_assets else idempotency_key
        result = api.replay(run_id, allow_stale_assets, key)
        if result.status == "stale_assets":
            _echo_stale(run_id, result.stale_assets)
            if not yes:
                if not sys.stdin.isatty():
                    click.echo(
                        "not replayed: no terminal to confirm on; pass --yes (or "
                        "--allow-stale-assets) to replay with stale assets",
                        err=True,
                    )
                    sys.exit(STALE_EXIT)
                if not click.confirm("Replay anyway, with these stale assets?", err=True):
                    click.echo("not replayed", err=True)
                    sys.exit(STALE_EXIT)
            result = api.replay(run_id, True, _confirmed_key(idempotency_key))
    run = result.run
    click.echo(
        f"enqueued {run['runId']} (replay of {run_id}, runKey {run['runKey']}, "
        f"status {run['status']}); audit #{result.audit_id}"
    )


def _confirmed_key(idempotency_key: str | None) -> str | None:
    """The Idempotency-Key of a replay confirmed despite stale assets: not the key of the
    refused request (the server would see the key reused for another request), the same
    however it was confirmed (--yes, the prompt, --allow-stale-assets), and within the
    header's 255 characters."""
    if idempotency_key is None:
        return None
    confirmed = f"{idempotency_key}:confirmed"
    if len(confirmed) <= 255:
        return confirmed
    return f"{hashlib.sha256(idempotency_key.encode()).hexdigest()}:confirmed"


def _echo_stale(run_id: str, stale_assets: list[dict]) -> None:
    click.secho(f"{run_id} produced assets that are stale now:", fg="yellow", err=True)
    for asset in stale_assets:
        click.echo(
            f"  {asset['assetKey']}: last updated {asset.get('lastUpdated') or 'never'}, "
            f"maxLagMinutes {asset.get('maxLagMinutes')}; {asset.get('reason')}",
            err=True,
        )


@main.command()
@click.option("--run", "run_id", help="Only rows about this run (or the replay it made).")
@API_URL_OPTION
@TOKEN_OPTION
@TABLE_FORMAT_OPTION
@_fail_cleanly
def audit(run_id: str | None, api_url: str | None, token: str | None, fmt: str) -> None:
    """The core API's audit log of replay requests, oldest first."""
    with _api(api_url, token) as api:
        rows = api.audit(run_id)
    columns = ["id", "at", "actor", "outcome", "statusCode", "runId", "newRunId",
               "allowStaleAssets", "staleAssetKeys", "idempotencyKey", "detail"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    if fmt != "json":
        frame["staleAssetKeys"] = frame["staleAssetKeys"].map(", ".join)
    _echo_frame(frame, fmt)


if __name__ == "__main__":
    main()
