"""Indicator values made comparable, each method with its reading of "lower is better".

Ratios are taken before scaling (scale * (x / max), not scale * x / max) so that the best unit
scores exactly scale and no unit exceeds it by a rounding error.

All methods except z_score map onto [0, scale] with the best unit at the top:

- ratio_to_max (seed 000 Appendix 1, X / X_MAX): higher: scale * x / max. lower: scale * min / x, the
  ratio of the best value to this one (x = 0 is the best possible and scores scale). Needs x >= 0;
  if every value is 0 every unit scores 0.
- min_max (seed 003): higher: scale * (x - min) / (max - min); lower: scale * (max - x) / (max - min).
  A constant indicator gives every unit scale (no unit lags behind another).
- base_period (seed 003's national series, base year = 100): per unit, scale * x_t / x_base;
  lower: scale * x_base / x_t. Needs x_base > 0 (and x_t > 0 when lower is better).
- z_score: (x - mean) / population standard deviation, negated when lower is better; not scaled,
  so it may be negative (a spec may not feed it into a geometric mean). A constant indicator gives 0.
- rank: scale * (r - 1) / (n - 1) with r the average rank from the worst (ties share a rank); a
  single unit scores scale.

Every method except base_period compares units within one period. NaN stays NaN (missing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.index.inputs import NO_PERIOD, IndexDataError, _quote
from analytics.index.spec import IndexSpec, Indicator


def _offenders(col: pd.Series, bad: pd.Series) -> str:
    rows = col[bad].reset_index()
    keys = ["unit", col.name] if (rows["period"] == NO_PERIOD).all() else ["period", "unit", col.name]
    return _quote(rows, keys)


def _ratio_to_max(x: pd.Series, higher: bool, scale: float) -> pd.Series:
    negative = x < 0
    if negative.any():
        raise IndexDataError(f"indicator {x.name!r}: ratio_to_max needs values >= 0, got {_offenders(x, negative)}")
    by = x.groupby(level="period")
    if higher:
        top = by.transform("max")
        return (scale * (x / top.where(top > 0))).where(~((top == 0) & x.notna()), 0.0)
    best = by.transform("min")
    return (scale * (best / x.where(x > 0))).where(~(x == 0), scale)


def _min_max(x: pd.Series, higher: bool, scale: float) -> pd.Series:
    by = x.groupby(level="period")
    lo, hi = by.transform("min"), by.transform("max")
    span = (hi - lo).where(hi > lo)
    out = scale * (((x - lo) if higher else (hi - x)) / span)
    return out.where(~((hi == lo) & x.notna()), scale)


def _z_score(x: pd.Series, higher: bool) -> pd.Series:
    by = x.groupby(level="period")
    sd = by.transform("std", ddof=0)
    z = ((x - by.transform("mean")) / sd.where(sd > 0)).where(~((sd == 0) & x.notna()), 0.0)
    return z if higher else -z


def _rank(x: pd.Series, higher: bool, scale: float) -> pd.Series:
    by = x.groupby(level="period")
    r = by.rank(method="average", ascending=higher)
    n = by.transform("count")
    return (scale * ((r - 1) / (n - 1).where(n > 1))).where(~((n == 1) & x.notna()), scale)


def _base_period(x: pd.Series, higher: bool, scale: float, base_period: str) -> pd.Series:
    base = x.xs(base_period, level="period")
    b = pd.Series(x.index.get_level_values("unit").map(base).to_numpy(dtype=float), index=x.index)
    bad_base = b <= 0
    if bad_base.any():
        raise IndexDataError(
            f"indicator {x.name!r}: base period {base_period} value must be > 0, "
            f"got {_offenders(b.rename(x.name), bad_base)}"
        )
    bad = (x <= 0) if not higher else (x < 0)
    if bad.any():
        need = "> 0 when lower is better" if not higher else ">= 0"
        raise IndexDataError(f"indicator {x.name!r}: base_period needs values {need}, got {_offenders(x, bad)}")
    return scale * ((x / b) if higher else (b / x))


def normalise_series(x: pd.Series, indicator: Indicator, scale: float, method: str | None = None) -> pd.Series:
    """One indicator over (period, unit); `method` overrides the declared normalisation."""
    method = method or indicator.normalisation
    higher = indicator.direction == "higher_is_better"
    if method == "ratio_to_max":
        return _ratio_to_max(x, higher, scale)
    if method == "min_max":
        return _min_max(x, higher, scale)
    if method == "z_score":
        return _z_score(x, higher)
    if method == "rank":
        return _rank(x, higher, scale)
    if method == "base_period":
        return _base_period(x, higher, scale, indicator.base_period)
    raise ValueError(f"unknown normalisation {method!r}")


def normalise(raw: pd.DataFrame, spec: IndexSpec, method: str | None = None) -> pd.DataFrame:
    """Every indicator column of `raw` ((period, unit) rows); `method` (not "spec") overrides all of them."""
    override = None if method in (None, "spec") else method
    by_id = spec.indicator_by_id
    out = {c: normalise_series(raw[c].astype(float), by_id[c], spec.scale, override) for c in raw.columns}
    return pd.DataFrame(out, index=raw.index).astype(float).replace([np.inf, -np.inf], np.nan)
