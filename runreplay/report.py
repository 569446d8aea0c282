"""Renderings of a RunDiff for people: HTML, Markdown and terminal text (Jinja2, autoescaped HTML).

    >>> run_diff.to_html("incident.html")     # doctest: +SKIP
    >>> print(run_diff.to_markdown())          # doctest: +SKIP
    >>> print(render(run_diff, "text", color=True))  # doctest: +SKIP

The HTML is one self-contained page: inline CSS scoped to `.rr-diff`, no scripts, no external
URLs, every value escaped by Jinja2's autoescape (values are shown as JSON, so `"1"`, `1` and
`1.0` look different). In every format but JSON, control characters and bidi overrides in
names and messages are shown as `\\u001b`-style escapes (`visible`). JSON export is
`RunDiff.to_json()` (runreplay.diff).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import click
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from runreplay.errors import RunReplayError
from runreplay.frames import json_records
from runreplay.model import SECTIONS, as_utc, describe_event
from runreplay.paths import keyed_segment

# report sits below the results it renders (docs/ARCHITECTURE.md, "Layers"): it reads them by
# their attributes and never imports runreplay.diff or runreplay.drift.
RunDiff = DriftReport = Bisect = Any

FORMATS = ("text", "markdown", "html", "json")
MAX_VALUE_CHARS = 2000
MAX_MARKDOWN_CHARS = 200
_TEXT_VALUE_CHARS = 200
SECTION_TITLES = {
    "parameters": "Parameters",
    "context": "Context",
    "output": "Output",
    "triggerPayload": "Trigger payload",
    "run": "Run fields",
}
CHANGE_LABELS = {
    "added": "added",
    "removed": "removed",
    "changed": "changed",
    "type_changed": "type changed",
}
_TEXT_MARKS = {"added": "+", "removed": "-", "changed": "~", "type_changed": "!"}
_TEXT_COLORS = {"added": "green", "removed": "red", "changed": "yellow", "type_changed": "magenta"}
_OP_LABELS = {"same": "=", "differs": "≠", "only_base": "base only", "only_compare": "compare only"}
# Control characters (terminal escapes; code points invalid in HTML), bidi embeddings,
# overrides and isolates (they reverse how the text after them reads) and non-characters.
_UNSHOWABLE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufdd0-\ufdef\ufffe\uffff"
_UNSHOWABLE_CHARS = re.compile(f"[{_UNSHOWABLE}]")
_UNSHOWABLE_OR_BREAKS = re.compile(f"[\t\n{_UNSHOWABLE}]")
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_char(match: re.Match) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def visible(text: str, *, one_line: bool = False) -> str:
    """`text` with control characters and bidi overrides written as escapes (`\\u001b`,
    `\\u202e`), so a run id or message cannot drive a terminal, make the HTML invalid or
    reverse the report line it is on; `one_line` writes newlines and tabs as `\\n`, `\\t`."""
    pattern = _UNSHOWABLE_OR_BREAKS if one_line else _UNSHOWABLE_CHARS
    return pattern.sub(_escape_char, text)


def finalize(value: Any) -> Any:
    """Every `{{ value }}` of the templates goes through `visible` (Markup is rendered)."""
    return visible(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def _styler(color: bool) -> Any:
    """`style(text, **click_styles)` for terminal lines: `visible` on one line, then coloured
    with click.style when `color`."""

    def style(text: str, **styles: Any) -> str:
        text = visible(text, one_line=True)
        return click.style(text, **styles) if color and styles else text

    return style


def _visible_cells(table: list[tuple]) -> list[tuple]:
    return [tuple(visible(cell, one_line=True) for cell in line) for line in table]


_environment = Environment(
    loader=PackageLoader("runreplay", "templates"),
    autoescape=select_autoescape(
        enabled_extensions=("html", "html.j2"), disabled_extensions=("md.j2",), default=True
    ),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    finalize=finalize,
)


def show_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A leaf as JSON text, cut to `limit` characters: `"1"`, `1`, `1.0`, `null`, `{}`."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _too_long(value: Any, limit: int) -> bool:
    return len(json.dumps(value, ensure_ascii=False)) > limit


def _cut_count(run_diff: RunDiff, show_volatile: bool, limit: int) -> int:
    """How many before / after values a report shows cut at `limit` by `show_value`: those
    of its shown field changes and of every asset change."""
    changes = [row for row in run_diff.field_changes if show_volatile or not row["volatile"]]
    changes += [change for delta in run_diff.asset_deltas for change in delta["changes"]]
    return sum(
        _too_long(change[side], limit)
        for change in changes
        for side, absent in (("before", "added"), ("after", "removed"))
        if change["change"] != absent
    )


def _cut_note(count: int, limit: int) -> str:
    if not count:
        return ""
    values = "value" if count == 1 else "values"
    return (
        f"{count} {values} longer than {limit} characters are cut (…); "
        "the JSON export has them whole."
    )


def _md_text(text: Any) -> str:
    """Plain text safe inside a GitHub table cell: pipes, newlines and markup escaped."""
    text = "" if text is None else str(text)
    for char in "\\`*_[]<>|#~&":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def _md_code(text: Any) -> str:
    """Text as a code span inside a GitHub table cell (pipes escaped, one line)."""
    text = " ".join(("" if text is None else str(text)).splitlines()).replace("|", "\\|")
    if not text:
        return ""
    fence = "`"
    while fence in text:
        fence += "`"
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


_environment.filters["md"] = _md_text
_environment.filters["code"] = _md_code


def _event_cells(event: dict | None) -> dict:
    if event is None:
        return {"present": False}
    return {
        "present": True,
        "seq": "" if event["seq"] is None else event["seq"],
        "step": event["step"] or "",
        "status": event["status"] or "",
        "attempt": "" if event["attempt"] is None else event["attempt"],
        "at": event["at"] or "",
        "message": event["message"] or "",
    }


def _within_asset(path: str, asset_key: str) -> str:
    """`payload.rows` for `assets[assetKey="k"].payload.rows`: the asset is named already."""
    prefix = "assets" + keyed_segment("assetKey", asset_key)
    if path.startswith(prefix + "."):
        return path[len(prefix) + 1 :]
    return path[len(prefix) :] if path.startswith(prefix) else path


def _run_view(run: dict) -> dict:
    return {
        "run_id": run.get("runId"),
        "workflow_id": run.get("workflowId"),
        "status": run.get("status"),
        "created_at": run.get("createdAt"),
        "partition_key": run.get("partitionKey"),
        "replay_of": run.get("replayOf"),
    }


def _view(run_diff: RunDiff, show_volatile: bool, limit: int) -> dict:
    """Everything a template shows, as plain strings and lists (templates hold no logic)."""
    rows = run_diff.field_changes
    hidden = 0 if show_volatile else sum(1 for row in rows if row["volatile"])
    sections = []
    for section in SECTIONS:
        section_rows = [
            {
                "path": row["path"],
                "change": row["change"],
                "label": CHANGE_LABELS[row["change"]],
                "before": "" if row["change"] == "added" else show_value(row["before"], limit),
                "after": "" if row["change"] == "removed" else show_value(row["after"], limit),
                "volatile": row["volatile"],
            }
            for row in rows
            if row["section"] == section and (show_volatile or not row["volatile"])
        ]
        section_hidden = 0
        if not show_volatile:
            section_hidden = sum(1 for row in rows if row["section"] == section and row["volatile"])
        sections.append(
            {
                "name": section,
                "title": SECTION_TITLES[section],
                "rows": section_rows,
                "hidden_volatile": section_hidden,
            }
        )
    divergence = run_diff.first_divergence
    history = [
        {
            "number": number,
            "op": row["op"],
            "op_label": _OP_LABELS[row["op"]],
            "base": _event_cells(row["base"]),
            "compare": _event_cells(row["compareTo"]),
            "is_divergence": divergence is not None and divergence["row"] == number,
        }
        for number, row in enumerate(run_diff.alignment)
    ]
    assets = [
        {
            "asset_key": delta["assetKey"],
            "change": delta["change"],
            "label": delta["change"].replace("_", " "),
            "changes": [
                {
                    "path": _within_asset(change["path"], delta["assetKey"]),
                    "change": change["change"],
                    "label": CHANGE_LABELS[change["change"]],
                    "before": ""
                    if change["change"] == "added"
                    else show_value(change["before"], limit),
                    "after": ""
                    if change["change"] == "removed"
                    else show_value(change["after"], limit),
                }
                for change in delta["changes"]
            ],
        }
        for delta in run_diff.asset_deltas
    ]
    return {
        "summary": run_diff.summary,
        "cut_note": _cut_note(_cut_count(run_diff, show_volatile, limit), limit),
        "base": _run_view(run_diff.base_run),
        "compare": _run_view(run_diff.compare_run),
        "stale_warnings": run_diff.stale_warnings,
        "sections": sections,
        "hidden_volatile": hidden,
        "history": history,
        "divergence": divergence,
        "attempts": run_diff.attempt_counts,
        "retry_paths_differ": run_diff.retry_paths_differ,
        "assets": assets,
        "options": run_diff.options,
    }


def to_html_fragment(run_diff: RunDiff, *, show_volatile: bool = True) -> str:
    """The report as an HTML fragment with its own scoped <style> (notebooks, embedding)."""
    view = _view(run_diff, show_volatile, MAX_VALUE_CHARS)
    return _environment.get_template("diff_body.html.j2").render(**view)


def to_html(
    run_diff: RunDiff, path: str | os.PathLike | None = None, *, show_volatile: bool = True
) -> str:
    """The report as one self-contained HTML page; written (UTF-8) to `path` when given."""
    view = _view(run_diff, show_volatile, MAX_VALUE_CHARS)
    html = _environment.get_template("diff.html.j2").render(**view)
    if path is not None:
        Path(path).write_text(html, encoding="utf-8")
    return html


def to_markdown(run_diff: RunDiff, *, show_volatile: bool = True) -> str:
    """The report as GitHub-flavoured Markdown (tables; cells escaped, one line each)."""
    view = _view(run_diff, show_volatile, MAX_MARKDOWN_CHARS)
    return _environment.get_template("diff.md.j2").render(**view)


def render_text(run_diff: RunDiff, color: bool = False, show_volatile: bool = False) -> str:
    """The report for a terminal: coloured with click.style when `color`, else plain."""

    style = _styler(color)
    base, compare = run_diff.base_run, run_diff.compare_run
    lines = [
        style(
            f"base     {base.get('runId')}  {base.get('status')}  {base.get('createdAt')}",
            bold=True,
        ),
        style(
            f"compare  {compare.get('runId')}  {compare.get('status')}  {compare.get('createdAt')}",
            bold=True,
        ),
        style(run_diff.summary),
    ]
    for warning in run_diff.stale_warnings:
        lines.append(
            style(
                f"STALE {warning['assetKey']}: {warning['reason']} "
                f"(lastUpdated {warning['lastUpdated'] or 'never'}, "
                f"maxLagMinutes {_or_dash(warning['maxLagMinutes'])})",
                fg="red",
                bold=True,
            )
        )
    hidden = 0
    for section in SECTIONS:
        rows = [row for row in run_diff.field_changes if row["section"] == section]
        if not show_volatile:
            hidden += sum(1 for row in rows if row["volatile"])
            rows = [row for row in rows if not row["volatile"]]
        if not rows:
            continue
        lines.append("")
        lines.append(style(SECTION_TITLES[section], bold=True))
        for row in rows:
            lines.append(
                style(_text_change(row), fg=_TEXT_COLORS[row["change"]], dim=row["volatile"])
            )
    if hidden:
        lines.append("")
        lines.append(
            style(f"{hidden} volatile change(s) hidden; show them with --show-volatile", dim=True)
        )
    changed_assets = [delta for delta in run_diff.asset_deltas if delta["change"] != "unchanged"]
    cut = _cut_count(run_diff, show_volatile, _TEXT_VALUE_CHARS)
    if run_diff.alignment and run_diff.first_divergence is not None:
        lines.append("")
        lines.append(style("History (base | compare)", bold=True))
        lines.extend(_text_history(run_diff, style))
    if run_diff.retry_paths_differ:
        lines.append(style("retry paths differ in: " + ", ".join(run_diff.retry_paths_differ)))
        for row in run_diff.attempt_counts:
            if row["step"] in run_diff.retry_paths_differ:
                lines.append(style(f"  {row['step']}: attempts {row['base']} | {row['compareTo']}"))
    if changed_assets:
        lines.append("")
        lines.append(style("Assets", bold=True))
        for delta in changed_assets:
            lines.append(style(f"  {delta['assetKey']}: {delta['change'].replace('_', ' ')}"))
            for change in delta["changes"]:
                shown = {**change, "path": _within_asset(change["path"], delta["assetKey"])}
                lines.append(style("  " + _text_change(shown), fg=_TEXT_COLORS[change["change"]]))
    if cut:
        lines.append("")
        lines.append(style(_cut_note(cut, _TEXT_VALUE_CHARS), dim=True))
    return "\n".join(lines) + "\n"


def _or_dash(value: Any) -> Any:
    return "—" if value is None else value


def _text_change(row: dict) -> str:
    mark = _TEXT_MARKS[row["change"]]
    limit = _TEXT_VALUE_CHARS
    if row["change"] == "added":
        return f"  {mark} {row['path']}: {show_value(row['after'], limit)}"
    if row["change"] == "removed":
        return f"  {mark} {row['path']}: {show_value(row['before'], limit)}"
    before, after = show_value(row["before"], limit), show_value(row["after"], limit)
    return f"  {mark} {row['path']}: {before} → {after}"


def _text_history(run_diff: RunDiff, style: Any) -> list[str]:
    """Aligned events, with long runs of identical events folded."""
    lines = []
    alignment = run_diff.alignment
    divergence = run_diff.first_divergence
    width = 44
    same_run: list[int] = []

    def flush() -> None:
        if len(same_run) > 3:
            lines.append(style(f"  … {len(same_run)} identical events", dim=True))
        else:
            lines.extend(_history_line(alignment[n], n, divergence, width, style) for n in same_run)
        same_run.clear()

    for number, row in enumerate(alignment):
        if row["op"] == "same":
            same_run.append(number)
            continue
        flush()
        lines.append(_history_line(row, number, divergence, width, style))
    flush()
    return lines


def _history_line(row: dict, number: int, divergence: dict | None, width: int, style: Any) -> str:
    def side(event: dict | None) -> str:
        if event is None:
            return "—"
        return visible(describe_event(event), one_line=True)[:width]

    marker = "▶" if divergence is not None and divergence["row"] == number else " "
    text = f"{marker} {side(row['base']):<{width}} | {side(row['compareTo'])}"
    colors = {"same": None, "differs": "yellow", "only_base": "red", "only_compare": "green"}
    return style(text, fg=colors[row["op"]]) if colors[row["op"]] else text


def render(
    run_diff: RunDiff, fmt: str = "text", *, color: bool = False, show_volatile: bool = False
) -> str:
    """One of FORMATS as text: what `runreplay diff --format` prints.

    Volatile changes are left out unless `show_volatile` (in every format, JSON included).
    """
    if fmt == "text":
        return render_text(run_diff, color=color, show_volatile=show_volatile)
    if fmt == "markdown":
        return to_markdown(run_diff, show_volatile=show_volatile)
    if fmt == "html":
        return to_html(run_diff, show_volatile=show_volatile)
    if fmt == "json":
        shown = run_diff if show_volatile else run_diff.without_volatile()
        return shown.to_json(indent=2) + "\n"
    raise RunReplayError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


# -- drift and bisect (runreplay.drift) -------------------------------------------------


def _cell_time(moment: Any) -> str:
    if moment is None or moment is pd.NaT or (isinstance(moment, float) and moment != moment):
        return ""
    return pd.Timestamp(moment).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%SZ")


def _cell_run(moment: Any, run_id: str | None) -> str:
    """`2026-10-12 01:00:00Z run-000347`: when and which run."""
    return f"{_cell_time(moment)} {run_id or ''}".strip()


def _window_text(since: Any, until: Any) -> str:
    if since is None and until is None:
        return "all runs"
    since, until = as_utc(since), as_utc(until)  # naive times are UTC, as in queries
    return f"runs from {_cell_time(since) or 'the start'} to {_cell_time(until) or 'now'}"


def _cell_share(value: Any) -> str:
    return "" if pd.isna(value) else f"{value:.0%}"


def _cell_float(value: Any) -> str:
    return "" if pd.isna(value) else f"{value:.2f}"


def _cell_count(value: Any) -> str:
    return "" if pd.isna(value) else str(int(value))


def _evidence(row: Any, *, absent: str = "absent") -> dict:
    """The association cells of a fields or suspects row, shared by every drift format."""
    has = not pd.isna(row["association"])
    return {
        "evidence": f"{int(row['failed_with'])} / {int(row['runs_with'])}" if has else "",
        "rates": (
            f"{_cell_share(row['failure_rate_with'])} / {_cell_share(row['failure_rate_without'])}"
            if has
            else ""
        ),
        "association": _cell_float(row["association"]),
        "strength": f"{max(0.0, float(row['association'])):.2f}" if has else "0",
    }


def _drift_view(report: DriftReport, show_volatile: bool, limit: int | None, chars: int) -> dict:
    fields = report.fields
    changed = fields[fields["changes"] > 0]
    shown = changed if show_volatile else changed[~changed["volatile"]]
    more = 0
    if limit is not None and len(shown) > limit:
        more, shown = len(shown) - limit, shown.head(limit)
    rows = []
    for _, row in shown.iterrows():
        value = row["associated_value"]
        rows.append(
            {
                "path": row["path"],
                "volatile": bool(row["volatile"]),
                "changes": int(row["changes"]),
                "first_change": _cell_run(row["first_change_at"], row["first_change_run_id"]),
                "last_change": _cell_run(row["last_change_at"], row["last_change_run_id"]),
                "distinct": _cell_count(row["distinct_values"]),
                "missing": _cell_share(row["missing_share"]) if row["missing_share"] else "",
                "value": ""
                if pd.isna(row["association"])
                else ("(absent)" if value is None else _cut(value, chars)),
                **_evidence(row),
            }
        )
    window = _window_text(report.since, report.until)
    return {
        "title": f"runreplay drift {report.workflow_id}",
        "workflow_id": report.workflow_id,
        "summary": report.summary,
        "failing": report.failing,
        "runs": report.runs,
        "failed": report.failed,
        "failure_rate": _cell_share(report.failure_rate),
        "window": window,
        "first_run_at": _cell_time(report.first_run_at),
        "last_run_at": _cell_time(report.last_run_at),
        "sections": ", ".join(report.sections),
        "ignore": ", ".join(report.ignore),
        "rows": rows,
        "more": more,
        "hidden_volatile": 0 if show_volatile else int(changed["volatile"].sum()),
        "unchanged": fields.loc[fields["changes"] == 0, "path"].tolist(),
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def drift_to_html_fragment(report: DriftReport, *, show_volatile: bool = True) -> str:
    """A DriftReport as an HTML fragment with its own scoped <style> (notebooks, embedding)."""
    view = _drift_view(report, show_volatile, None, MAX_VALUE_CHARS)
    return _environment.get_template("drift_body.html.j2").render(**view)


def drift_to_html(
    report: DriftReport, path: str | os.PathLike | None = None, *, show_volatile: bool = True
) -> str:
    """A DriftReport as one self-contained HTML page; written (UTF-8) to `path` when given."""
    view = _drift_view(report, show_volatile, None, MAX_VALUE_CHARS)
    html = _environment.get_template("page.html.j2").render(body="drift_body.html.j2", **view)
    if path is not None:
        Path(path).write_text(html, encoding="utf-8")
    return html


def drift_to_markdown(report: DriftReport, *, show_volatile: bool = False, limit: int = 50) -> str:
    """A DriftReport as GitHub-flavoured Markdown: summary and the ranked, drifted fields."""
    view = _drift_view(report, show_volatile, limit, MAX_MARKDOWN_CHARS)
    return _environment.get_template("drift.md.j2").render(**view)


def render_drift_text(
    report: DriftReport, color: bool = False, show_volatile: bool = False, limit: int = 40
) -> str:
    """A DriftReport for a terminal: summary line and the ranked drifted paths."""

    style = _styler(color)
    view = _drift_view(report, show_volatile, limit, 40)
    lines = [
        style(report.summary, bold=True),
        style(
            f"failing: {report.failing}    {view['window']}"
            + (f": {view['first_run_at']} … {view['last_run_at']}" if view["first_run_at"] else "")
        ),
    ]
    if view["rows"]:
        header = ("path", "changes", "last change", "value tied to failing", "fail/with", "assoc")
        table = [header] + [
            (
                row["path"] + (" (volatile)" if row["volatile"] else ""),
                str(row["changes"]),
                row["last_change"],
                row["value"],
                row["evidence"],
                row["association"],
            )
            for row in view["rows"]
        ]
        table = _visible_cells(table)
        widths = [max(len(line[column]) for line in table) for column in range(len(header))]
        lines.append("")
        for number, line in enumerate(table):
            text = "  ".join(
                cell.rjust(width) if column in (1, 4, 5) else cell.ljust(width)
                for column, (cell, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
            if number == 0:
                lines.append(style(text, bold=True))
            else:
                lines.append(style(text, dim=view["rows"][number - 1]["volatile"]))
    else:
        lines.append("no path changed" + ("" if show_volatile else " (besides volatile ones)"))
    notes = []
    if view["more"]:
        notes.append(f"{view['more']} more drifted path(s) not shown")
    if view["hidden_volatile"]:
        notes.append(
            f"{view['hidden_volatile']} volatile path(s) hidden; show them with --show-volatile"
        )
    if view["unchanged"]:
        notes.append(f"{len(view['unchanged'])} path(s) never changed")
    if notes:
        lines.append("")
        lines.extend(style(note, dim=True) for note in notes)
    return "\n".join(lines) + "\n"


def render_drift(
    report: DriftReport, fmt: str = "text", *, color: bool = False, show_volatile: bool = False
) -> str:
    """One of FORMATS as text: what `runreplay drift WORKFLOW --format` prints.

    Volatile paths are left out unless `show_volatile` (in every format, JSON included).
    """
    if fmt == "text":
        return render_drift_text(report, color=color, show_volatile=show_volatile)
    if fmt == "markdown":
        return drift_to_markdown(report, show_volatile=show_volatile)
    if fmt == "html":
        return drift_to_html(report, show_volatile=show_volatile)
    if fmt == "json":
        data = report.to_dict()
        if not show_volatile:
            data["fields"] = [row for row in data["fields"] if not row["volatile"]]
        return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    raise RunReplayError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _summary_view(summary: pd.DataFrame, since: Any, until: Any, failing: str | None) -> dict:
    from runreplay.predicate import DEFAULT_FAILING

    rows = []
    for _, row in summary.iterrows():
        has = not pd.isna(row["top_suspect_association"])
        rows.append(
            {
                "workflow_id": row["workflow_id"],
                "runs": int(row["runs"]),
                "failed": int(row["failed"]),
                "failure_rate": _cell_share(row["failure_rate"]),
                "first_run_at": _cell_time(row["first_run_at"]),
                "last_run_at": _cell_time(row["last_run_at"]),
                "changed_fields": int(row["changed_fields"]),
                "volatile_fields": int(row["volatile_fields"]),
                "top_suspect": row["top_suspect"] if has else "",
                "top_suspect_value": _cut(row["top_suspect_value"] or "(absent)", 60)
                if has
                else "",
                "top_suspect_association": _cell_float(row["top_suspect_association"]),
                "top_suspect_changed_at": _cell_time(row["top_suspect_changed_at"]) if has else "",
                "strength": f"{max(0.0, float(row['top_suspect_association'])):.2f}"
                if has
                else "0",
            }
        )
    window = _window_text(since, until)
    return {
        "title": "runreplay drift --all",
        "rows": rows,
        "window": window,
        "failing": failing or DEFAULT_FAILING,
    }


def render_drift_summary(
    summary: pd.DataFrame,
    fmt: str = "text",
    *,
    since: Any = None,
    until: Any = None,
    failing: str | None = None,
    color: bool = False,
) -> str:
    """`drift_summary()` as one of FORMATS: what `runreplay drift --all --format` prints."""
    view = _summary_view(summary, since, until, failing)
    if fmt == "markdown":
        return _environment.get_template("drift_summary.md.j2").render(**view)
    if fmt == "html":
        return _environment.get_template("page.html.j2").render(
            body="drift_summary_body.html.j2", **view
        )
    if fmt == "json":
        return json.dumps(json_records(summary), ensure_ascii=False, indent=2) + "\n"
    if fmt != "text":
        raise RunReplayError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    header = ("workflow", "runs", "failing", "rate", "drifted", "volatile", "top suspect", "assoc")
    table = [header] + [
        (
            row["workflow_id"],
            str(row["runs"]),
            str(row["failed"]),
            row["failure_rate"],
            str(row["changed_fields"]),
            str(row["volatile_fields"]),
            f"{row['top_suspect']} = {row['top_suspect_value']}" if row["top_suspect"] else "",
            row["top_suspect_association"],
        )
        for row in view["rows"]
    ]
    table = _visible_cells(table)
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    lines = [visible(f"{view['window']}; failing by {view['failing']}", one_line=True)]
    for number, line in enumerate(table):
        text = "  ".join(
            cell.ljust(width) if column in (0, 6) else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        lines.append(click.style(text, bold=True) if color and number == 0 else text)
    if not view["rows"]:
        lines.append("(no runs)")
    return "\n".join(lines) + "\n"


def _bisect_view(found: Bisect, chars: int) -> dict:
    suspects = []
    for _, row in found.suspects.iterrows():
        suspects.append(
            {
                "rank": int(row["rank"]),
                "path": row["path"],
                "change": row["change"],
                "label": CHANGE_LABELS[row["change"]],
                "before": "" if row["before"] is None else _cut(row["before"], chars),
                "after": "" if row["after"] is None else _cut(row["after"], chars),
                "volatile": bool(row["volatile"]),
                "first_seen": _cell_run(row["first_seen_at"], row["first_seen_run_id"]),
                **_evidence(row),
            }
        )

    def run(run: dict) -> dict:
        return {**run, "created_at": _cell_time(run["created_at"])}

    return {
        "title": f"runreplay bisect {found.workflow_id}",
        "workflow_id": found.workflow_id,
        "summary": found.summary,
        "failing": found.failing,
        "runs": found.runs,
        "failed": found.failed,
        "sections": " and ".join(found.sections),
        "good": run(found.good_run),
        "bad": run(found.bad_run),
        "suspects": suspects,
    }


def bisect_to_html_fragment(found: Bisect, *, with_diff: bool = True) -> str:
    """A Bisect as an HTML fragment: the pair, ranked suspects, then (`with_diff`) the
    pair's diff."""
    view = _bisect_view(found, MAX_VALUE_CHARS)
    diff_html = Markup(to_html_fragment(found.run_diff, show_volatile=True) if with_diff else "")
    return _environment.get_template("bisect_body.html.j2").render(diff_html=diff_html, **view)


def bisect_to_html(found: Bisect, path: str | os.PathLike | None = None) -> str:
    """A Bisect as one self-contained HTML page; written (UTF-8) to `path` when given."""
    view = _bisect_view(found, MAX_VALUE_CHARS)
    diff_html = Markup(to_html_fragment(found.run_diff, show_volatile=True))
    html = _environment.get_template("page.html.j2").render(
        body="bisect_body.html.j2", diff_html=diff_html, **view
    )
    if path is not None:
        Path(path).write_text(html, encoding="utf-8")
    return html


def bisect_to_markdown(found: Bisect) -> str:
    """A Bisect as GitHub-flavoured Markdown: the pair, the suspects, then the diff."""
    view = _bisect_view(found, MAX_MARKDOWN_CHARS)
    return _environment.get_template("bisect.md.j2").render(
        diff_markdown=to_markdown(found.run_diff, show_volatile=False), **view
    )


def render_bisect_text(found: Bisect, color: bool = False, limit: int = 20) -> str:
    """A Bisect for a terminal: the pair, the ranked suspects with counts, then the diff."""

    style = _styler(color)
    view = _bisect_view(found, 40)
    lines = [style(f"bisect {found.workflow_id}  (failing: {found.failing})", bold=True)]
    for role, run in (("good", view["good"]), ("bad ", view["bad"])):
        lines.append(style(f"{role}  {run['run_id']}  {run['status']}  {run['created_at']}"))
    if found.runs_between:
        lines.append(f"      {found.runs_between} run(s) between them")
    lines.append("")
    lines.append(
        style(
            f"Suspects: {view['sections']} paths that differ, ranked by association with "
            f"failing across {found.runs} runs ({found.failed} failing)",
            bold=True,
        )
    )
    if not view["suspects"]:
        lines.append("  none: no input differs between the two runs; see the diff below")
    table = [("#", "path", "good → bad", "fail/with", "rate with/without", "assoc")]
    for row in view["suspects"][:limit]:
        change = f"{row['before'] or '(absent)'} → {row['after'] or '(absent)'}"
        table.append(
            (
                str(row["rank"]),
                row["path"] + (" (volatile)" if row["volatile"] else ""),
                change,
                row["evidence"],
                row["rates"],
                row["association"],
            )
        )
    table = _visible_cells(table)
    if view["suspects"]:
        widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
        for number, line in enumerate(table):
            text = "  ".join(
                cell.rjust(width) if column in (0, 3, 4, 5) else cell.ljust(width)
                for column, (cell, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
            volatile = number > 0 and view["suspects"][number - 1]["volatile"]
            lines.append(
                "  "
                + style(text, bold=number == 0, fg="red" if number == 1 else None, dim=volatile)
            )
        if len(view["suspects"]) > limit:
            lines.append(f"  … {len(view['suspects']) - limit} more")
    lines.append("")
    lines.append(style("Diff good → bad", bold=True))
    lines.append(render_text(found.run_diff, color=color, show_volatile=False).rstrip("\n"))
    return "\n".join(lines) + "\n"


def render_bisect(found: Bisect, fmt: str = "text", *, color: bool = False) -> str:
    """One of FORMATS as text: what `runreplay bisect WORKFLOW --format` prints."""
    if fmt == "text":
        return render_bisect_text(found, color=color)
    if fmt == "markdown":
        return bisect_to_markdown(found)
    if fmt == "html":
        return bisect_to_html(found)
    if fmt == "json":
        return found.to_json(indent=2) + "\n"
    raise RunReplayError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
