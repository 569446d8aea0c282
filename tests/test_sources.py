"""Which files a load reads: paths, globs and directories."""

from __future__ import annotations

import os

import orjson
import pytest

import runreplay
from runreplay.errors import RunReplayError, SourceError
from runreplay.sources import expand_sources
from tests.conftest import make_record


def test_an_existing_file_whose_name_looks_like_a_glob_is_read_as_that_file(store, tmp_path):
    named = tmp_path / "runs[2026].ndjson"
    named.write_bytes(orjson.dumps(make_record("r1")) + b"\n")
    (tmp_path / "runs2.ndjson").write_bytes(orjson.dumps(make_record("r2")) + b"\n")
    assert expand_sources([named]) == [named]
    assert expand_sources([str(named)]) == [named]
    assert store.load(named).runs == 1 and store.has_run("r1") and not store.has_run("r2")
    # a pattern that is no file is still a glob: [2] matches runs2.ndjson
    assert expand_sources([tmp_path / "runs[2].ndjson"]) == [tmp_path / "runs2.ndjson"]


def test_a_glob_matching_only_other_files_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("not runs")
    with pytest.raises(SourceError, match=r"matches 1 path\(s\) but no run export"):
        expand_sources([tmp_path / "*"])
    with pytest.raises(SourceError, match="matches no file"):
        expand_sources([tmp_path / "*.ndjson"])
    with pytest.raises(SourceError, match="holds no run files"):
        expand_sources([tmp_path])


def test_an_empty_source_is_not_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs.ndjson").write_bytes(orjson.dumps(make_record("r1")) + b"\n")
    for empty in ("", "  "):
        with pytest.raises(SourceError, match="an empty source path"):
            expand_sources([empty])


def test_a_pipe_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "runs.ndjson"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="not a regular file .*save the export to a file"):
        expand_sources([fifo])


def test_a_pipe_as_the_store_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "runs.duckdb"
    os.mkfifo(fifo)
    with pytest.raises(RunReplayError, match="not a regular file"):
        runreplay.open(fifo)
