"""DataFrames as JSON: the one conversion of result tables to JSON-ready records (camelCase
keys, times as ISO 8601 UTC, NaN and NA as null, numpy scalars as Python ones)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from runreplay.model import format_timestamp


def iso(moment: Any) -> str | None:
    """A timestamp (datetime, pandas Timestamp or numpy datetime) as ISO 8601 UTC; None stays None."""
    if moment is None or (isinstance(moment, float) and math.isnan(moment)) or moment is pd.NaT:
        return None
    return format_timestamp(pd.Timestamp(moment).to_pydatetime())


def number(value: Any) -> Any:
    """A numpy/pandas scalar as a plain Python value (NaN and NA as None)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def camel(name: str) -> str:
    """`created_at` → `createdAt`: column names as JSON keys."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def json_records(frame: pd.DataFrame) -> list[dict]:
    """DataFrame rows as JSON-ready dicts with camelCase keys."""
    columns = list(frame.columns)
    keys = [camel(column) for column in columns]
    times = {column for column in columns if pd.api.types.is_datetime64_any_dtype(frame[column])}
    return [
        {
            key: iso(value) if column in times else number(value)
            for key, column, value in zip(keys, columns, row, strict=True)
        }
        for row in frame.itertuples(index=False, name=None)
    ]
