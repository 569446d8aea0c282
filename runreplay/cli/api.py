"""Commands of the core API: serve, replay, audit."""

from __future__ import annotations

import errno
import hashlib
import shlex
import socket
import sys

import click
import pandas as pd

from runreplay.cli.common import TABLE_FORMAT_OPTION, api_client, echo_frame, fail_cleanly
from runreplay.errors import RunReplayError

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


@click.command()
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
@fail_cleanly
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
    _refuse_a_taken_port(host, port)  # before a token is written or data is loaded
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
        if token_source.path is not None:
            click.echo(
                f"for the command line: export RUNREPLAY_API_URL={url} "
                f'RUNREPLAY_TOKEN="$(grep -v "^#" {shlex.quote(str(token_source.path))} '
                '| head -n1 | cut -d: -f2-)"'
            )

    try:
        server_app.serve(app, host, port, log_level=log_level, on_ready=ready)
    except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised the Ctrl-C
        click.echo("stopped")


def _refuse_a_taken_port(host: str, port: int) -> None:
    """A RunReplayError when something already listens on host:port (port 0 is never taken)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                return  # the server's own bind reports other problems (an unknown host, ...)
            raise RunReplayError(
                f"port {port} on {host} is already in use (another runreplay serve or demo?); "
                "stop it, or pass another --port (0 picks a free one)"
            ) from None


@click.command()
@click.argument("run_id")
@API_URL_OPTION
@TOKEN_OPTION
@click.option("--allow-stale-assets", is_flag=True,
              help="Replay even if assets the run produced are stale now.")  # fmt: skip
@click.option("--yes", "-y", is_flag=True, help="On a stale refusal, replay without asking.")
@click.option("--idempotency-key", help="Makes re-running this command safe (default: new UUID).")
@fail_cleanly
def replay(run_id: str, api_url: str | None, token: str | None, allow_stale_assets: bool,
           yes: bool, idempotency_key: str | None) -> None:  # fmt: skip
    """Replay RUN_ID with its recorded inputs through the core API.

    When assets the run produced are stale, nothing is enqueued: the stale assets are
    listed and, on a terminal, you are asked to confirm. Without a terminal and without
    --yes the command exits with status 3.
    """
    with api_client(api_url, token) as api:
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


@click.command()
@click.option("--run", "run_id", help="Only rows about this run (or the replay it made).")
@API_URL_OPTION
@TOKEN_OPTION
@TABLE_FORMAT_OPTION
@fail_cleanly
def audit(run_id: str | None, api_url: str | None, token: str | None, fmt: str) -> None:
    """The core API's audit log of replay requests, oldest first."""
    with api_client(api_url, token) as api:
        rows = api.audit(run_id)
    columns = ["id", "at", "actor", "outcome", "statusCode", "runId", "newRunId",
               "allowStaleAssets", "staleAssetKeys", "idempotencyKey", "detail"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    if fmt != "json":
        frame["staleAssetKeys"] = frame["staleAssetKeys"].map(", ".join)
    echo_frame(frame, fmt)
