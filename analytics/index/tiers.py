"""Tiers (梯队) of units by total score: fixed thresholds (seed 001) or natural breaks (seed 003).

Natural breaks use jenkspy's Fisher-Jenks (the exact optimum of within-class variance, not the
iterative Jenks approximation), so a release's tiers do not depend on a starting guess.
A class holds values in (lower break, upper break]; the first label is the top class.
Tiers are decided on totals rounded to `ranking.decimals`, as for ties.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.index.inputs import IndexDataError
from analytics.index.spec import NaturalBreakTiers, Ranking, ThresholdTiers, Tiers


def _threshold_labels(values: np.ndarray, tiers: ThresholdTiers) -> np.ndarray:
    below = (np.array(tiers.thresholds)[None, :] > values[:, None]).sum(axis=1)
    return np.array(tiers.labels, dtype=object)[below]


def _natural_break_labels(values: np.ndarray, tiers: NaturalBreakTiers, period: str) -> np.ndarray:
    distinct = np.unique(values).size
    if distinct < tiers.k:
        where = f" in period {period}" if period else ""
        raise IndexDataError(
            f"natural breaks into k={tiers.k} tiers need at least {tiers.k} distinct totals{where}, got {distinct}"
        )
    breaks = np.asarray(natural_breaks(values, tiers.k))
    cls = np.searchsorted(breaks[1:-1], values, side="left")
    return np.array(tiers.labels, dtype=object)[tiers.k - 1 - cls]


def natural_breaks(values: np.ndarray, k: int) -> list[float]:
    """The k + 1 Fisher-Jenks break values (minimum, k - 1 inner breaks, maximum)."""
    import jenkspy

    return [float(b) for b in jenkspy.jenks_breaks(list(map(float, values)), n_classes=k)]


def assign_tiers(totals: pd.Series, periods: pd.Series, tiers: Tiers, ranking: Ranking) -> pd.Series:
    """Tier label per row (None for a missing total), natural breaks computed within each period."""
    s = totals.round(ranking.decimals) if ranking.decimals is not None else totals
    out = pd.Series(None, index=totals.index, dtype=object)
    for period, idx in s.groupby(periods, sort=False).groups.items():
        block = s.loc[idx].dropna()
        if block.empty:
            continue
        values = block.to_numpy(dtype=float)
        labels = (
            _threshold_labels(values, tiers)
            if isinstance(tiers, ThresholdTiers)
            else _natural_break_labels(values, tiers, period)
        )
        out.loc[block.index] = labels
    return out
