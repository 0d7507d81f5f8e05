"""compute(spec, indicator table) -> scores: the whole index in memory, no file I/O, no Spark.

The release job (and anyone with a CSV) calls this; reading files and writing outputs is the
caller's business, so the same function serves the CLI, the lakehouse release and the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.index.aggregate import aggregate, coverage
from analytics.index.inputs import prepare
from analytics.index.normalise import normalise
from analytics.index.ranking import rank_units
from analytics.index.spec import IndexSpec
from analytics.index.tiers import assign_tiers

INDICATOR_PREFIX = "indicator."
NODE_PREFIX = "node."
RANK_PREFIX = "rank."


@dataclass(frozen=True)
class ComputeReport:
    """What the engine did with the table beyond the arithmetic: worth printing with every run."""

    unused_indicators: tuple[str, ...]  # in the table, not in the spec: ignored
    absent_indicators: tuple[str, ...]  # in the spec, not in the table: left out (missing: exclude)
    missing_values: dict[str, int]  # (period, unit) cells without a value, per indicator, before the policy
    imputed: dict[str, int]  # of those, filled by the zero or mean policy
    units_without_total: tuple[str, ...]  # no indicator at all: no total, no rank

    def messages(self) -> list[str]:
        out = []
        if self.unused_indicators:
            out.append(
                f"ignored {len(self.unused_indicators)} indicator(s) the spec does not use: "
                f"{', '.join(self.unused_indicators)}"
            )
        if self.absent_indicators:
            out.append(
                f"{len(self.absent_indicators)} indicator(s) absent from the table, "
                f"weights renormalised without them: {', '.join(self.absent_indicators)}"
            )
        gaps = {k: v for k, v in self.missing_values.items() if v and k not in self.absent_indicators}
        for ind, n in gaps.items():
            filled = self.imputed.get(ind, 0)
            out.append(f"indicator {ind}: {n} missing value(s)" + (f", {filled} imputed" if filled else ", left out"))
        if self.units_without_total:
            out.append(
                f"{len(self.units_without_total)} unit(s) without any indicator: {', '.join(self.units_without_total)}"
            )
        return out


@dataclass(frozen=True)
class IndexResult:
    spec: IndexSpec
    scores: pd.DataFrame
    report: ComputeReport
    # (period, unit) x indicator: values after the missing-value policies, and normalised.
    raw: pd.DataFrame
    normalised: pd.DataFrame
    has_period: bool


def compute(spec: IndexSpec, table: pd.DataFrame, units: Sequence[str] | None = None) -> IndexResult:
    """Scores per unit (and period, when the table has one), sorted by period and rank.

    Columns: [period], unit, total, rank, tied, tier, coverage, node.<id> (every node below the
    root), rank.<id> (first-level nodes), indicator.<id> (normalised). coverage is the share of
    the index's stated weight for which the unit had data (1 = complete).
    """
    prep = prepare(spec, table, units)
    norm = normalise(prep.raw, spec)
    leaves = norm.to_numpy(dtype=float)[None, :, :]
    nodes = {k: v[0] for k, v in aggregate(spec, leaves).items()}
    index = norm.index
    frame = index.to_frame(index=False)
    frame["total"] = nodes[spec.root]
    period = frame["period"]
    frame["rank"], frame["tied"] = rank_units(frame["total"], spec.ranking, period)
    frame["tier"] = assign_tiers(frame["total"], period, spec.tiers, spec.ranking) if spec.tiers else None
    frame["coverage"] = coverage(spec, ~np.isnan(norm.to_numpy(dtype=float)))
    below_root = [n for n in spec.node_ids() if n != spec.root]
    node_cols = pd.DataFrame({f"{NODE_PREFIX}{n}": nodes[n] for n in below_root})
    rank_cols = {}
    for n in spec.first_level():
        if n in nodes:
            rank_cols[f"{RANK_PREFIX}{n}"] = rank_units(pd.Series(nodes[n]), spec.ranking, period)[0]
    ind_cols = pd.DataFrame(norm.to_numpy(dtype=float), columns=[f"{INDICATOR_PREFIX}{c}" for c in norm.columns])
    scores = pd.concat([frame, node_cols, pd.DataFrame(rank_cols), ind_cols], axis=1)
    order = {p: k for k, p in enumerate(prep.periods)}
    scores = scores.sort_values(
        ["period", "rank"], key=lambda s: s.map(order) if s.name == "period" else s, na_position="last", kind="stable"
    )
    scores = scores.reset_index(drop=True)
    if not prep.has_period:
        scores = scores.drop(columns="period")
    no_total = scores.loc[scores["total"].isna(), "unit"]
    report = ComputeReport(
        prep.unused_indicators,
        prep.absent_indicators,
        prep.missing_values,
        prep.imputed,
        tuple(dict.fromkeys(no_total)),
    )
    return IndexResult(spec, scores, report, prep.raw, norm, prep.has_period)
