"""Which files a load reads: paths, globs and directories resolved to run exports.

Kept apart from runreplay.ingest (which imports numpy and pyarrow) so that `Store.load` can
size a load, and start its worker processes, before it imports the loader itself.
"""

from __future__ import annotations

import glob as globlib
import os
from collections.abc import Iterable
from pathlib import Path

from runreplay.errors import SourceError

NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")
JSON_SUFFIXES = (".json", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
SUPPORTED_SUFFIXES = NDJSON_SUFFIXES + JSON_SUFFIXES + PARQUET_SUFFIXES


def has_suffix(path: str, suffixes: tuple[str, ...]) -> bool:
    return path.lower().endswith(suffixes)


def expand_sources(sources: Iterable[str | os.PathLike]) -> list[Path]:
    """Resolve paths, globs and directories into the ordered list of files to read."""
    files: list[Path] = []
    for source in sources:
        text = os.fspath(source)
        if not text.strip():  # Path("") is the current directory: an unset variable
            raise SourceError("an empty source path; give a file, directory or glob of run exports")
        path = Path(text)
        if any(char in text for char in "*?[") and not path.exists():  # runs[2026].ndjson
            matched = sorted(globlib.glob(text, recursive=True))
            if not matched:
                raise SourceError(f"the glob {text!r} matches no file; check the pattern")
            exports = [Path(m) for m in matched if has_suffix(m, SUPPORTED_SUFFIXES)]
            if not exports:
                raise SourceError(
                    f"the glob {text!r} matches {len(matched)} path(s) but no run export "
                    f"({', '.join(SUPPORTED_SUFFIXES)}); check the pattern"
                )
            files.extend(exports)
            continue
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and has_suffix(p.name, SUPPORTED_SUFFIXES)
            )
            if not found:
                raise SourceError(
                    f"the directory {text!r} holds no run files "
                    f"({', '.join(SUPPORTED_SUFFIXES)}); point at the export folder"
                )
            files.extend(found)
        elif path.is_file():
            if not has_suffix(path.name, SUPPORTED_SUFFIXES):
                raise SourceError(
                    f"{text!r} is not a supported run export; use one of "
                    f"{', '.join(SUPPORTED_SUFFIXES)} (rename NDJSON files to .ndjson)"
                )
            files.append(path)
        elif path.exists():
            raise SourceError(
                f"{text!r} is not a regular file (a pipe or device); stdin and pipes cannot "
                "be loaded: save the export to a file first"
            )
        else:
            raise SourceError(f"no such file or directory: {text!r}")
    return files
