"""How fragile a ranking is: Monte Carlo over the weights and the normalisation (OECD/JRC Handbook, ch. 7).

Each draw (a) replaces every node's child weights by a perturbation centred on the spec's
(`uncertainty.weights`: Dirichlet with mean = the spec weights, or +-spread uniform then
renormalised), and (b) picks one normalisation for all indicators, uniformly from the spec's
declared set (`spec` = each indicator's own). The draw is then aggregated and ranked with the
spec's tie rule; each unit gets its median rank and a percentile interval (numpy's linear
interpolation) over the draws.

Reproducible: one numpy Generator seeded with the seed; per period (in order) it draws the
normalisation choices first, then each node's weights in spec.node_ids() order. Draws are
vectorised: the (draws x units x indicators) array is built at once, no loop over draws or units.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from analytics.index.aggregate import aggregate
from analytics.index.engine import IndexResult
from analytics.index.normalise import normalise
from analytics.index.ranking import rank_draws
from analytics.index.spec import IndexSpec, WeightPerturbation


def draw_weights(
    spec: IndexSpec, perturbation: WeightPerturbation, draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Every node's child weights as (draws, C) arrays whose rows sum to 1."""
    out = {}
    for node_id in spec.node_ids():
        w = np.array([c.weight for c in spec.node_by_id[node_id].children])
        if w.size == 1:
            out[node_id] = np.ones((draws, 1))
        elif perturbation.method == "dirichlet":
            out[node_id] = rng.dirichlet(perturbation.concentration * w, size=draws)
        else:
            jitter = rng.uniform(1 - perturbation.spread, 1 + perturbation.spread, size=(draws, w.size))
            scaled = w * jitter
            out[node_id] = scaled / scaled.sum(axis=1, keepdims=True)
    return out


def rank_uncertainty(result: IndexResult, draws: int | None = None, seed: int | None = None) -> pd.DataFrame:
    """Per unit (and period): total, rank, median_rank, rank_p<low>, rank_p<high>; `draws`/`seed` override the
    spec's."""
    spec = result.spec
    if spec.uncertainty is None:
        raise ValueError(f"spec {spec.id!r} has no uncertainty section")
    u = spec.uncertainty
    n = draws if draws is not None else u.draws
    if n < 1:
        raise ValueError(f"draws must be >= 1, got {n}")
    rng = np.random.default_rng(u.seed if seed is None else seed)
    methods = list(u.normalisations)
    tables = [result.normalised if m == "spec" else normalise(result.raw, spec, m) for m in methods]
    lo, hi = u.percentiles
    parts = []
    for period in result.raw.index.get_level_values("period").unique():
        stack = np.stack([t.xs(period, level="period").to_numpy(dtype=float) for t in tables])  # (M, U, I)
        choice = rng.integers(len(methods), size=n)
        weights = draw_weights(spec, u.weights, n, rng)
        totals = aggregate(spec, stack[choice], weights)[spec.root]  # (D, U)
        ranks = rank_draws(totals, spec.ranking)
        with warnings.catch_warnings():
            # A unit with no total in any draw has an all-NaN column: its statistics are NaN.
            warnings.simplefilter("ignore", RuntimeWarning)
            stats = np.nanpercentile(ranks, [50, lo, hi], axis=0)
        units = tables[0].xs(period, level="period").index
        parts.append(
            pd.DataFrame(
                {
                    "period": period,
                    "unit": units,
                    "median_rank": stats[0],
                    f"rank_p{lo:g}": stats[1],
                    f"rank_p{hi:g}": stats[2],
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    keys = ["period", "unit"] if result.has_period else ["unit"]
    base = result.scores[[*keys, "total", "rank"]]
    if not result.has_period:
        out = out.drop(columns="period")
    return base.merge(out, on=keys, how="left", validate="one_to_one")
