"""Reports of a RunDiff: escaped self-contained HTML, GitHub Markdown, terminal text, render()."""

from __future__ import annotations

import json
import re

import html5lib
import pytest

import runreplay
from runreplay.diff import RunDiff, diff_runs
from runreplay.errors import RunReplayError
from runreplay.report import FORMATS, render, render_text, to_html, to_html_fragment
from tests.conftest import make_record

NS = {"h": "http://www.w3.org/1999/xhtml"}
SCRIPT = "<script>alert('owned')</script>"
BREAKER = "</table></td></tr><b>bold</b>"

RETRIED = [
    {"seq": 0, "at": "2026-11-20T01:00:00Z", "status": "QUEUED"},
    {"seq": 1, "at": "2026-11-20T01:00:05Z", "status": "RUNNING", "step": "extract", "attempt": 1},
    {
        "seq": 2,
        "at": "2026-11-20T01:01:00Z",
        "status": "RETRYING",
        "step": "extract",
        "attempt": 1,
        "message": SCRIPT,
    },
    {"seq": 3, "at": "2026-11-20T01:01:30Z", "status": "RUNNING", "step": "extract", "attempt": 2},
    {"seq": 4, "at": "2026-11-20T01:10:00Z", "status": "SUCCEEDED"},
]
CLEAN = [RETRIED[0], RETRIED[1], {**RETRIED[4], "seq": 2}]


def hostile_diff(**options) -> RunDiff:
    """A diff whose values, keys, messages and asset keys carry markup."""
    base = make_record(
        "run-<b>a</b>",
        parameters={"batchSize": 500, "query": "select 1", SCRIPT: 1, "gone": True, "n": 1},
        context={"host": "w1", "image": "etl:1"},
        history=RETRIED,
        assets=[
            {"assetKey": f"warehouse/{SCRIPT}", "payload": {"rows": 1}},
            {"assetKey": "warehouse/orders", "payload": {"rows": 1}},
        ],
    )
    compare = make_record(
        "run-b",
        parameters={
            "batchSize": 5000,
            "query": SCRIPT + BREAKER,
            SCRIPT: 2,
            "new": "a|b\nc",
            "n": "1",
        },
        context={"host": "w2", "image": "etl:1"},
        history=CLEAN,
        assets=[{"assetKey": f"warehouse/{SCRIPT}", "payload": {"rows": 2}}],
    )
    warnings = [
        {
            "assetKey": "warehouse/orders",
            "lastUpdated": "2026-11-19T00:00:00Z",
            "maxLagMinutes": 1440,
            "reason": f"flagged {SCRIPT}",
        }
    ]
    return diff_runs(base, compare, volatile={"context.host"}, stale_warnings=warnings, **options)


def parse(html: str):
    """Parse strictly: html5lib raises on any parse error."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=True).parse(html)


def text_of(element) -> str:
    return "".join(element.itertext())


# -- HTML ------------------------------------------------------------------------------


def test_html_parses_and_holds_injected_markup_only_as_text():
    html = hostile_diff().to_html()
    document = parse(html)
    scripts = document.findall(".//h:script", NS)
    assert scripts == []
    assert document.findall(".//h:b", NS) == []  # the run id and BREAKER stayed text
    cells = [text_of(td) for td in document.iter("{http://www.w3.org/1999/xhtml}td")]
    assert any(json.dumps(SCRIPT + BREAKER) in cell for cell in cells)  # the value, as JSON
    assert any(SCRIPT in cell for cell in cells)  # the history message
    assert "<script>" not in html and "</table></td></tr><b>" not in html
    assert "&lt;script&gt;" in html
    assert text_of(document.find(".//h:title", NS)) == "runreplay diff run-<b>a</b> → run-b"


def test_html_is_self_contained():
    html = hostile_diff().to_html()
    assert "://" not in html
    assert not re.search(r"(?i)\bsrc\s*=|<link|<img|<iframe|@import|url\(", html)
    assert re.findall(r'href="([^"]*)"', html) == []  # no links out (or in) at all
    document = parse(html)
    (style,) = document.findall(".//h:style", NS)
    assert style.text.count(".rr-diff") > 10  # every rule is scoped to the report


def test_html_highlights_each_change_kind_and_volatile_rows():
    document = parse(hostile_diff().to_html())
    rows = {
        text_of(tr.find("h:td/h:code", NS)): tr.get("class")
        for tr in document.findall(".//h:table[@class='fields']//h:tr", NS)
        if tr.find("h:td/h:code", NS) is not None
    }
    assert rows["parameters.batchSize"] == "changed"
    assert rows["parameters.new"] == "added"
    assert rows["parameters.gone"] == "removed"
    assert rows["parameters.n"] == "type_changed"
    assert rows["context.host"] == "changed volatile"
    headings = [text_of(h3) for h3 in document.findall(".//h:h3", NS)]
    assert headings[:5] == ["Parameters", "Context", "Output", "Trigger payload", "Run fields"]


def test_html_shows_summary_stale_banner_divergence_and_assets():
    run_diff = hostile_diff()
    document = parse(run_diff.to_html())
    (summary,) = document.findall(".//h:p[@class='summary']", NS)
    assert text_of(summary) == run_diff.summary
    (banner,) = document.findall(".//h:div[@class='stale']", NS)
    assert "warehouse/orders" in text_of(banner) and SCRIPT in text_of(banner)
    (divergence,) = document.findall(".//h:tr[@id='first-divergence']", NS)
    assert "divergence" in divergence.get("class")
    assert "RETRYING" in text_of(divergence) and "▶" in text_of(divergence)
    history_rows = document.findall(".//h:table[@class='history']//h:tr", NS)
    assert len(history_rows) == 2 + len(run_diff.alignment)
    assets = document.findall(".//h:table[@class='assets']//h:tr", NS)[1:]
    assert [tr.get("class") for tr in assets] == ["payload_changed", "removed"]
    assert "payload.rows" in text_of(assets[0])


def test_html_without_stale_assets_has_no_banner():
    run_diff = diff_runs(make_record("a"), make_record("b", parameters={"batchSize": 1}))
    document = parse(run_diff.to_html())
    assert document.findall(".//h:div[@class='stale']", NS) == []
    assert document.findall(".//h:tr[@id='first-divergence']", NS) == []


def test_to_html_writes_the_file_it_returns(tmp_path):
    run_diff = hostile_diff()
    target = tmp_path / "report.html"
    html = run_diff.to_html(target)
    assert target.read_text(encoding="utf-8") == html
    assert to_html(run_diff) == html


def test_hiding_volatile_rows_says_how_many():
    html = hostile_diff().to_html(show_volatile=False)
    assert "context.host" not in html
    assert "1 volatile change(s) hidden." in html


def test_repr_html_is_a_fragment_for_notebooks():
    run_diff = hostile_diff()
    fragment = run_diff._repr_html_()
    assert fragment == to_html_fragment(run_diff)
    assert fragment.lstrip().startswith('<div class="rr-diff">')
    assert "<html" not in fragment and "<body" not in fragment
    assert "<script>" not in fragment
    fragment_tree = html5lib.parseFragment(fragment, namespaceHTMLElements=False)
    assert fragment_tree.find("div").get("class") == "rr-diff"


# -- Markdown --------------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    """Split a GitHub table row on unescaped pipes."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_markdown_tables_keep_their_shape_with_pipes_and_newlines():
    markdown = hostile_diff().to_markdown()
    tables = [
        [line for line in block.splitlines() if line.startswith("|")]
        for block in markdown.split("\n\n")
    ]
    tables = [rows for rows in tables if rows]
    assert len(tables) == 6  # runs, parameters, context, history, attempts, assets
    for rows in tables:  # every row has as many cells as its header
        assert {len(_cells(row)) for row in rows} == {len(_cells(rows[0]))}, rows
    (new_row,) = [row for rows in tables for row in rows if "parameters.new" in row]
    assert _cells(new_row)[3].strip() == '`"a\\|b\\nc"`'


def test_markdown_lists_sections_history_and_assets():
    run_diff = hostile_diff()
    markdown = run_diff.to_markdown()
    for heading in (
        "#### Parameters",
        "#### Context",
        "#### Output",
        "### Status history",
        "### Assets",
    ):
        assert heading in markdown
    assert "| `parameters.batchSize` | changed | `500` | `5000` |" in markdown
    assert "> **Stale assets:**" in markdown
    assert "**▶ 2**" in markdown
    assert "First divergence at row 2" in markdown


def test_markdown_escapes_markup_outside_code_spans():
    markdown = hostile_diff().to_markdown()
    stale_line = next(line for line in markdown.splitlines() if line.startswith("> - "))
    assert "\\<script\\>" in stale_line
    outside_code = re.sub(r"(`+).*?\1", "", markdown)
    assert "<script>" not in outside_code and "<b>" not in outside_code
    assert "**Summary:** run-\\<b\\>a\\</b\\> → run-b" in markdown


# -- text and render() -----------------------------------------------------------------


def test_text_is_plain_without_color_and_styled_with_it():
    run_diff = hostile_diff()
    plain = render_text(run_diff, color=False, show_volatile=False)
    assert "\x1b[" not in plain
    assert "  ~ parameters.batchSize: 500 → 5000" in plain
    assert "  + parameters.new: " in plain and "  - parameters.gone: true" in plain
    assert '  ! parameters.n: 1 → "1"' in plain
    assert "STALE warehouse/orders" in plain
    assert "▶ extract RETRYING" in plain
    assert "context.host" not in plain
    assert "1 volatile change(s) hidden" in plain
    colored = render_text(run_diff, color=True, show_volatile=True)
    assert "\x1b[32m" in colored and "\x1b[31m" in colored  # green additions, red removals
    assert "context.host" in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored).count("\n") >= plain.count("\n")


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_produces_every_format(fmt):
    output = render(hostile_diff(), fmt, color=False, show_volatile=False)
    assert "context.host" not in output
    if fmt == "json":
        data = json.loads(output)
        assert [row["path"] for row in data["fieldChanges"]][:1] == ["parameters.batchSize"]
        assert RunDiff.from_dict(data).summary.startswith("run-<b>a</b> → run-b")
    if fmt == "html":
        parse(output)
    shown = render(hostile_diff(), fmt, show_volatile=True)
    assert "context.host" in shown


def test_render_refuses_unknown_formats():
    with pytest.raises(RunReplayError, match="unknown format 'yaml'"):
        render(hostile_diff(), "yaml")


# -- hostile names: control and bidi characters, newlines, long values ------------------

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: reverses the display of all text after it
CONTROLS = "\x1b[2J\x1b]0;pwned\x07\x00\x0b\x7f\x9b"
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def named_diff(name: str) -> RunDiff:
    """A diff whose run id, step, message, asset key and parameter key all hold `name`."""
    events = [
        {"seq": 0, "at": "2026-11-20T01:00:00Z", "status": "QUEUED"},
        {"seq": 1, "at": "2026-11-20T01:00:05Z", "status": "RUNNING", "step": name, "attempt": 1},
        {"seq": 2, "at": "2026-11-20T01:01:00Z", "status": "FAILED", "step": name,
         "attempt": 1, "message": name},
    ]  # fmt: skip
    base = make_record(
        f"run-a{name}",
        parameters={"batchSize": 500, name: 1},
        history=[*events[:2], {**events[2], "status": "SUCCEEDED", "message": None}],
        assets=[{"assetKey": f"k{name}", "payload": {"rows": 1}}],
    )
    compare = make_record(
        "run-b",
        parameters={"batchSize": 5000, name: 2},
        history=events,
        assets=[{"assetKey": f"k{name}", "payload": {"rows": 2}}],
    )
    warnings = [{"assetKey": f"k{name}", "reason": name, "lastUpdated": None, "maxLagMinutes": 1}]
    return diff_runs(base, compare, stale_warnings=warnings)


@pytest.mark.parametrize("fmt", ["html", "markdown", "text"])
def test_bidi_overrides_in_names_are_shown_escaped_not_applied(fmt):
    output = render(named_diff(f"x{RLO}evil"), fmt, show_volatile=True)
    assert RLO not in output  # it would reverse the summary line and headings after it
    assert "x\\u202eevil" in output


def test_fragment_shows_bidi_overrides_escaped():
    fragment = named_diff(f"x{RLO}evil")._repr_html_()
    assert RLO not in fragment and "x\\u202eevil" in fragment


@pytest.mark.parametrize("fmt", ["html", "markdown", "text"])
def test_control_characters_in_names_never_reach_the_output(fmt):
    output = render(named_diff(CONTROLS), fmt, show_volatile=True)
    assert INVISIBLE.findall(output) == []  # no terminal escapes, no invalid HTML code points
    assert "\\u001b[2J" in output
    if fmt == "html":
        parse(output)


def test_text_keeps_one_line_per_row_when_names_hold_newlines():
    run_diff = named_diff("one\ntwo")
    text = render_text(run_diff, show_volatile=True)
    lines = text.splitlines()
    assert lines[0].startswith("base     run-aone\\ntwo  SUCCEEDED")
    assert not any(line in ("two", "two  SUCCEEDED") or line.startswith("two") for line in lines)
    history = lines[lines.index("History (base | compare)") + 1 :]
    history = history[: history.index("")]
    assert history and all(" | " in line for line in history), history


def test_bisect_and_drift_text_escape_control_characters(tmp_path):
    from runreplay.report import render_bisect, render_drift, render_drift_summary

    records = [
        make_record(
            f"run-{index}",
            workflowId=f"wf{CONTROLS}{RLO}",
            createdAt=f"2026-11-{10 + index:02d}T01:00:00Z",
            status="FAILED" if index >= 3 else "SUCCEEDED",
            parameters={"batchSize": 5000 if index >= 3 else 500, f"k{RLO}": f"v{CONTROLS}"},
            history=[],
            assets=[],
        )
        for index in range(6)
    ]
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        workflow = records[0]["workflowId"]
        outputs = {
            "drift": [render_drift(store.drift(workflow), fmt) for fmt in FORMATS[:3]],
            "bisect": [render_bisect(store.bisect(workflow), fmt) for fmt in FORMATS[:3]],
            "summary": [render_drift_summary(store.drift_summary(), fmt) for fmt in FORMATS[:3]],
        }
    for name, rendered in outputs.items():
        for output in rendered:
            assert INVISIBLE.findall(output) == [], name
            assert "wf\\u001b[2J" in output, name
        parse(rendered[2])


def test_text_stale_warning_without_last_update_says_never_like_html():
    run_diff = named_diff("x")  # its stale warning has lastUpdated None
    (line,) = [line for line in render_text(run_diff).splitlines() if line.startswith("STALE")]
    assert "None" not in line and "lastUpdated never" in line
    assert "last updated never" in run_diff.to_html()


# -- drift and bisect ------------------------------------------------------------------


@pytest.fixture
def drift_report(tmp_path):
    """12 runs of "etl": batchSize flips at run 6 and every run from it fails; traceId
    changes in every run (volatile)."""
    records = [
        make_record(
            f"run-{index:02d}",
            workflowId="etl",
            createdAt=f"2026-11-{index + 1:02d}T01:00:00Z",
            status="FAILED" if index >= 6 else "SUCCEEDED",
            parameters={"batchSize": 5000 if index >= 6 else 500},
            context={"traceId": f"t{index}"},
        )
        for index in range(12)
    ]
    with runreplay.open(tmp_path / "s.duckdb") as store:
        store.load_records(records)
        yield store.drift("etl")


@pytest.mark.parametrize("fmt", FORMATS)
def test_drift_render_hides_volatile_paths_in_every_format_unless_asked(drift_report, fmt):
    from runreplay.report import render_drift

    hidden = render_drift(drift_report, fmt, show_volatile=False)
    shown = render_drift(drift_report, fmt, show_volatile=True)
    assert "parameters.batchSize" in hidden and "parameters.batchSize" in shown
    assert "context.traceId" not in hidden
    assert "context.traceId" in shown


def test_a_section_whose_changes_are_all_hidden_does_not_claim_no_changes():
    run_diff = hostile_diff()  # its only context change, context.host, is volatile
    markdown = run_diff.to_markdown(show_volatile=False)
    context = markdown.split("#### Context")[1].split("####")[0]
    assert "No changes" not in context and "1 volatile change(s) hidden" in context
    document = parse(run_diff.to_html(show_volatile=False))
    heading = document.find(".//h:h3[@id='section-context']", NS)
    body = list(document.iter())
    following = body[body.index(heading) + 1]
    assert "No changes" not in text_of(following)
    assert "1 volatile change(s) hidden" in text_of(following)
    output = markdown.split("#### Output")[1].split("####")[0]
    assert "No changes." in output  # a section with nothing at all still says so


@pytest.mark.parametrize(("fmt", "limit"), [("markdown", 200), ("html", 2000), ("text", 200)])
def test_long_values_are_cut_at_the_format_limit_and_the_report_says_so(fmt, limit):
    long_value = "x" * 5000
    run_diff = diff_runs(
        make_record("a", parameters={"query": long_value, "n": 1}),
        make_record("b", parameters={"query": long_value + "y", "n": 2}),
    )
    output = render(run_diff, fmt).replace("&#34;", '"')
    assert long_value not in output
    assert '"' + "x" * (limit - 2) + "…" in output  # cut to `limit` characters, marked
    assert f"2 values longer than {limit} characters are cut" in output
    short = render(diff_runs(make_record("a"), make_record("b", parameters={"n": 2})), fmt)
    assert "characters are cut" not in short


def test_json_of_a_diff_holding_nan_is_a_clear_error_naming_the_path():
    run_diff = diff_runs(
        make_record("a", parameters={"ratio": float("nan")}),
        make_record("b", parameters={"ratio": 0.5}),
    )  # diff_runs takes records as given; a Store would have refused the NaN
    with pytest.raises(RunReplayError, match=r"NaN or infinity at parameters\.ratio"):
        render(run_diff, "json")
    assert "parameters.ratio" in render(run_diff, "markdown")  # the other formats still work
