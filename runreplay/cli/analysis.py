"""Commands that compare and analyse runs: diff, drift, bisect."""

from __future__ import annotations

import click

from runreplay.cli.common import (
    DB_OPTION,
    FORMAT_CHOICE,
    OUTPUT_PATH,
    PATH_GLOB,
    PREDICATE,
    TIME,
    api_client,
    check_window,
    emit,
    fail_cleanly,
    open_store,
    use_color,
)


@click.command()
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
@fail_cleanly
def diff(base: str, compare: str, db: str, api_url: str | None, token: str | None, fmt: str,
         output: str | None, ignore: tuple[str, ...], show_volatile: bool) -> None:  # fmt: skip
    """Compare run BASE with run COMPARE: fields, status histories, assets, stale warnings."""
    from runreplay.report import render

    if api_url:
        with api_client(api_url, token) as api:
            run_diff = api.diff(base, compare, ignore=ignore)
    else:
        with open_store(db, read_only=True) as store:
            run_diff = store.diff(base, compare, ignore=ignore)
    text = render(run_diff, fmt, color=fmt == "text" and use_color(output),
                  show_volatile=show_volatile)  # fmt: skip
    emit(text, output)


# -- drift across many runs ----------------------------------------------------------------

SECTIONS = ("parameters", "context", "output")
FAILING_OPTION = click.option(
    "--failing",
    type=PREDICATE,
    help="What counts as failing (default: status == 'FAILED'; e.g. \"output.metrics.auc < 0.9\").",
)


@click.command()
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
@fail_cleanly
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
    check_window(since, until)
    options = {"sections": sections or SECTIONS, "ignore": ignore, "failing": failing}
    color = fmt == "text" and use_color(output)
    with open_store(db, read_only=True) as store:
        if all_workflows:
            summary = store.drift_summary(since, until, **options)
            text = render_drift_summary(
                summary, fmt, since=since, until=until, failing=failing, color=color
            )
        else:
            report = store.drift(workflow, since, until, **options)
            text = render_drift(report, fmt, color=color, show_volatile=show_volatile)
    emit(text, output)


@click.command()
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
@fail_cleanly
def bisect(workflow: str, db: str, failing: str | None, bad: str | None, good: str | None,
           since: str | None, until: str | None, ignore: tuple[str, ...], fmt: str,
           output: str | None) -> None:  # fmt: skip
    """Find WORKFLOW's last good and first bad run and rank the changes most likely to blame.

    --since / --until keep the search to a window, e.g. to bisect a new regression of a
    workflow that also failed long ago.
    """
    from runreplay.report import render_bisect

    check_window(since, until)
    with open_store(db, read_only=True) as store:
        found = store.bisect(
            workflow, bad=bad, good=good, failing=failing, since=since, until=until, ignore=ignore
        )
    emit(render_bisect(found, fmt, color=fmt == "text" and use_color(output)), output)
