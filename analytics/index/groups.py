"""Groups of units compared by mean rank, as seed 000 Table 3-7 compares the economic zones.

Table 3-7 prints each zone's mean of its members' national ranks per first-level node and for
the total, rounded to whole ranks (half up: 5.5 -> 6, 19.5 -> 20). The means are returned
unrounded; `round_half_up` gives the printed form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analytics.index.engine import RANK_PREFIX, IndexResult
from analytics.index.inputs import IndexDataError

MEMBER_SEPARATOR = "、"
MEAN_PREFIX = "mean_rank."


def _grouping(groups: Mapping[str, str] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(groups, pd.DataFrame):
        lacking = [c for c in ("unit", "group") if c not in groups.columns]
        if lacking:
            raise IndexDataError(f"grouping lacks column(s) {lacking} (needs unit, group)")
        frame = groups[["unit", "group"]].dropna().astype(str)
    else:
        frame = pd.DataFrame({"unit": list(groups), "group": list(groups.values())}).astype(str)
    frame = frame[frame["group"].str.strip() != ""]
    twice = frame.loc[frame["unit"].duplicated(), "unit"].tolist()
    if twice:
        raise IndexDataError(f"grouping puts unit(s) {twice} in more than one group")
    return frame


def compare_groups(
    scores: pd.DataFrame,
    groups: Mapping[str, str] | pd.DataFrame,
    rank_columns: Mapping[str, str],
    order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """rank_columns maps an output name to a rank column of `scores`; one row per group (and period)."""
    grouping = _grouping(groups)
    unknown = sorted(set(grouping["unit"]) - set(scores["unit"]))
    if unknown:
        raise IndexDataError(f"grouping names unit(s) not in the scores: {', '.join(unknown)}")
    keys = ["period"] if "period" in scores.columns else []
    joined = scores[[*keys, "unit", *rank_columns.values()]].merge(grouping, on="unit", how="inner")
    named = {src: f"{MEAN_PREFIX}{name}" for name, src in rank_columns.items()}
    by = joined.groupby([*keys, "group"], sort=False)
    out = by[list(rank_columns.values())].mean().astype(float).rename(columns=named)
    out.insert(0, "units", by.size())
    out.insert(1, "members", by["unit"].agg(MEMBER_SEPARATOR.join))
    out = out.reset_index()
    rank_of = {g: k for k, g in enumerate(order or dict.fromkeys(grouping["group"]))}
    out = out.sort_values([*keys, "group"], key=lambda s: s.map(rank_of) if s.name == "group" else s, kind="stable")
    return out.reset_index(drop=True)


def group_comparison(
    result: IndexResult, groups: Mapping[str, str] | pd.DataFrame, order: Sequence[str] | None = None
) -> pd.DataFrame:
    """Mean rank of each group for each first-level node and the total."""
    columns = {
        n: f"{RANK_PREFIX}{n}" for n in result.spec.first_level() if f"{RANK_PREFIX}{n}" in result.scores.columns
    }
    columns["total"] = "rank"
    return compare_groups(result.scores, groups, columns, order)


def round_half_up(values: pd.Series | np.ndarray, decimals: int = 0) -> np.ndarray:
    factor = 10.0**decimals
    return np.floor(np.asarray(values, dtype=float) * factor + 0.5) / factor
