"""Ranks from scores, with the tie rule the spec states.

Scores are first rounded to `ranking.decimals` (when set), so units that a published table shows
with the same score tie, whatever float noise separates them. Rank 1 is the highest score.

- competition ("1224"): tied units share the best of their ranks; the next rank skips.
- ordinal: tied units get consecutive ranks in unit order (the order of `units` given to the
  engine, else first appearance in the indicator table). Seed 000's Tables 3-4 to 3-7 rank this way,
  with ties in administrative-division-code order.

`tied` flags every unit that shares its (rounded) score with another unit, under either rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from analytics.index.spec import Ranking

_PANDAS_METHOD = {"competition": "min", "ordinal": "first"}
_SCIPY_METHOD = {"competition": "min", "ordinal": "ordinal"}


def _rounded(scores: pd.Series | np.ndarray, ranking: Ranking):
    return scores.round(ranking.decimals) if ranking.decimals is not None else scores


def rank_units(scores: pd.Series, ranking: Ranking, by: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """Ranks (Int64, <NA> for a missing score) and tie flags, within each value of `by` (e.g. period)."""
    s = _rounded(scores.astype(float), ranking)
    groups = by if by is not None else pd.Series(0, index=s.index)
    ranks = s.groupby(groups, sort=False).rank(method=_PANDAS_METHOD[ranking.ties], ascending=False).astype("Int64")
    keyed = pd.DataFrame({"g": groups, "s": s})
    tied = keyed.duplicated(["g", "s"], keep=False) & s.notna()
    return ranks, tied


def rank_draws(scores: np.ndarray, ranking: Ranking) -> np.ndarray:
    """scores (D, U) -> ranks (D, U) per draw; a unit whose score is NaN in a draw gets NaN."""
    s = _rounded(scores, ranking)
    missing = np.isnan(s)
    # NaN scores sort after every real score and are then blanked.
    filled = np.where(missing, np.inf, -s)
    ranks = rankdata(filled, method=_SCIPY_METHOD[ranking.ties], axis=-1).astype(float)
    return np.where(missing, np.nan, ranks)
