"""线性外推 (linear extrapolation) of a yearly series to the years the inputs do not cover.

The seeds estimate "未发布的相关数据" by linear extrapolation without saying how the line is fitted.
Choice (setting extrapolation.window): a least-squares line value = a + b * year through the last
`window` observed years for years after the series (the first `window` for years before it);
gaps inside the series are interpolated linearly between their neighbours. Every filled value is
reported, so a run says which of its figures rest on estimated inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def fill(series: pd.Series, years: list[int], window: int) -> tuple[pd.Series, list[int]]:
    """The series on `years` (and its own years), with the filled years listed."""
    observed = series.dropna().sort_index()
    if observed.empty:
        raise ValueError(f"series {series.name!r} has no observed value to extrapolate from")
    wanted = sorted(set(years) | set(observed.index))
    out = observed.reindex(wanted).astype(float)
    missing = [y for y in wanted if pd.isna(out[y])]
    first, last = observed.index.min(), observed.index.max()
    if len(observed) == 1:
        out[:] = float(observed.iloc[0])
        return out, missing
    for side, years_out in (("tail", [y for y in missing if y > last]), ("head", [y for y in missing if y < first])):
        if not years_out:
            continue
        fit = observed.iloc[-window:] if side == "tail" else observed.iloc[:window]
        slope, intercept = np.polyfit(fit.index.to_numpy(dtype=float), fit.to_numpy(dtype=float), 1)
        for y in years_out:
            out[y] = intercept + slope * y
    inner = [y for y in missing if first < y < last]
    if inner:
        out[inner] = np.interp(inner, observed.index.to_numpy(dtype=float), observed.to_numpy(dtype=float))
    return out, missing


def fill_frame(frame: pd.DataFrame, years: list[int], window: int, label: str) -> tuple[pd.DataFrame, list[dict]]:
    """Every column filled to `years`; the estimated cells as records (table, column, year, value)."""
    columns, notes = {}, []
    for col in frame.columns:
        filled, missing = fill(frame[col].rename(f"{label}.{col}"), years, window)
        columns[col] = filled
        notes += [{"table": label, "column": str(col), "year": int(y), "value": float(filled[y])} for y in missing]
    out = pd.DataFrame(columns)
    out.index.name = frame.index.name
    return out, notes
