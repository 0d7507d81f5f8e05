"""The long-format indicator table (`unit, indicator, value`, optional `period`) checked against a spec.

Everything that can be wrong with an indicator table is found here, before any arithmetic, so
the engine only ever sees a complete (period, unit) x indicator grid of numbers or NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.index.spec import IndexSpec

REQUIRED_COLUMNS = ("unit", "indicator", "value")
# Rows without a period column all belong to this one period; it never reaches the output.
NO_PERIOD = ""
# How many offending rows an error message quotes.
QUOTED = 5


class IndexDataError(ValueError):
    """The indicator table (or a published table) cannot be used with this spec."""


@dataclass(frozen=True)
class Prepared:
    """raw: (period, unit) x indicator, spec indicators in tree order, after the missing-value policies."""

    raw: pd.DataFrame
    has_period: bool
    periods: tuple[str, ...]
    units: tuple[str, ...]
    unused_indicators: tuple[str, ...]
    absent_indicators: tuple[str, ...]
    missing_values: dict[str, int]
    imputed: dict[str, int]


def _quote(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    rows = [" / ".join(str(r[c]) for c in columns) for r in frame.head(QUOTED).to_dict("records")]
    more = f" and {len(frame) - QUOTED} more" if len(frame) > QUOTED else ""
    return "; ".join(rows) + more


def _clean(table: pd.DataFrame) -> pd.DataFrame:
    lacking = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if lacking:
        raise IndexDataError(
            f"indicator table lacks column(s) {lacking} (needs unit, indicator, value; optional period)"
        )
    cols = [c for c in ("period", *REQUIRED_COLUMNS) if c in table.columns]
    frame = table[cols].copy()
    for key in [c for c in cols if c != "value"]:
        blank = frame[key].isna() | (frame[key].astype(str).str.strip() == "")
        if blank.any():
            raise IndexDataError(f"indicator table: {int(blank.sum())} row(s) without a {key}")
        frame[key] = frame[key].astype(str).str.strip()
    numbers = pd.to_numeric(frame["value"], errors="coerce")
    bad = numbers.isna() & frame["value"].notna() & (frame["value"].astype(str).str.strip() != "")
    if bad.any():
        raise IndexDataError(
            f"indicator table: {int(bad.sum())} value(s) are not numbers: "
            f"{_quote(frame[bad], ['unit', 'indicator', 'value'])}"
        )
    infinite = np.isinf(numbers)
    if infinite.any():
        raise IndexDataError(
            f"indicator table: {int(infinite.sum())} value(s) are infinite: "
            f"{_quote(frame[infinite], ['unit', 'indicator', 'value'])}"
        )
    frame["value"] = numbers.astype(float)
    if "period" not in frame.columns:
        frame.insert(0, "period", NO_PERIOD)
    dup = frame.duplicated(["period", "unit", "indicator"], keep=False)
    if dup.any():
        key = ["period", "unit", "indicator"] if frame["period"].ne(NO_PERIOD).any() else ["unit", "indicator"]
        raise IndexDataError(
            f"indicator table: {int(dup.sum())} rows share a (period, unit, indicator): {_quote(frame[dup], key)}"
        )
    return frame


def prepare(spec: IndexSpec, table: pd.DataFrame, units: Sequence[str] | None = None) -> Prepared:
    """`units` declares the units to score, in order (it decides ordinal tie-breaks and units with no rows at all)."""
    frame = _clean(table)
    has_period = "period" in table.columns
    wanted = spec.indicator_ids()
    given = list(dict.fromkeys(frame["indicator"]))
    unused = tuple(sorted(set(given) - set(wanted)))
    absent = tuple(i for i in wanted if i not in set(given))
    policies = {i.id: i.missing for i in spec.indicators}
    not_allowed = [i for i in absent if policies[i] != "exclude"]
    if not_allowed:
        raise IndexDataError(
            f"indicator(s) {not_allowed} needed by spec {spec.id!r} are not in the indicator table "
            "(only an indicator with missing: exclude may be absent)"
        )
    order = list(dict.fromkeys([*(str(u) for u in units or ()), *frame["unit"]]))
    periods = tuple(sorted(frame["period"].unique()))
    used = frame[frame["indicator"].isin(wanted)]
    grid = pd.MultiIndex.from_product([periods, order], names=["period", "unit"])
    raw = used.pivot(index=["period", "unit"], columns="indicator", values="value").reindex(index=grid, columns=wanted)
    raw.columns.name = None
    missing = {i: int(raw[i].isna().sum()) for i in wanted}
    imputed: dict[str, int] = {}
    for ind in spec.indicators:
        gaps = raw[ind.id].isna()
        if ind.missing == "error" and gaps.any():
            where = raw.index[gaps.to_numpy()].to_frame(index=False)
            raise IndexDataError(
                f"indicator {ind.id!r} (missing: error) has no value for: "
                f"{_quote(where, ['period', 'unit'] if has_period else ['unit'])}"
            )
        if ind.missing == "zero":
            raw[ind.id] = raw[ind.id].fillna(0.0)
        elif ind.missing == "mean":
            raw[ind.id] = raw[ind.id].fillna(raw[ind.id].groupby(level="period").transform("mean"))
        imputed[ind.id] = int(gaps.sum() - raw[ind.id].isna().sum())
    for ind in spec.indicators:
        if ind.normalisation == "base_period":
            if not has_period:
                raise IndexDataError(
                    f"indicator {ind.id!r} is normalised to base period {ind.base_period} but the indicator table "
                    "has no period column"
                )
            if ind.base_period not in periods:
                raise IndexDataError(
                    f"indicator {ind.id!r}: base period {ind.base_period} is not in the indicator table (periods: "
                    f"{', '.join(periods)})"
                )
    return Prepared(raw, has_period, periods, tuple(order), unused, absent, missing, imputed)
