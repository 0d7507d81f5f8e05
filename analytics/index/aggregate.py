"""Weighted means up the tree, vectorised over Monte Carlo draws.

Arrays carry a leading draw axis D (1 for the plain computation), then units U, then children C.
A missing child (NaN) is left out and its siblings' weights are renormalised over those present,
so a unit with one of two equally weighted indicators scores that indicator; a node with no child
present is itself missing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from analytics.index.spec import IndexSpec


def spec_weights(spec: IndexSpec) -> dict[str, np.ndarray]:
    """Each node's child weights as a (1, C) array, children in declared order."""
    return {n.id: np.array([[c.weight for c in n.children]]) for n in spec.nodes}


def combine(values: np.ndarray, weights: np.ndarray, aggregation: str) -> np.ndarray:
    """values (D, U, C) with NaN for missing, weights (D, C) -> (D, U)."""
    present = ~np.isnan(values)
    w = np.where(present, weights[:, None, :], 0.0)
    total = w.sum(axis=-1)
    if aggregation == "weighted_arithmetic":
        summed = (w * np.where(present, values, 0.0)).sum(axis=-1)
    else:
        if (values[present] < 0).any():
            raise ValueError("weighted_geometric got a negative child score")
        with np.errstate(divide="ignore"):
            logs = np.log(np.where(present, values, 1.0))
        summed_log = np.where(w > 0, w * logs, 0.0).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, np.exp(summed_log / np.where(total > 0, total, 1.0)), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, summed / np.where(total > 0, total, 1.0), np.nan)


def aggregate(
    spec: IndexSpec, leaves: np.ndarray, weights: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """leaves (D, U, I), indicators in spec.indicator_ids() order -> every node's (D, U) scores."""
    weights = weights or spec_weights(spec)
    column = {ind: k for k, ind in enumerate(spec.indicator_ids())}
    scores: dict[str, np.ndarray] = {}
    for node_id in spec.bottom_up():
        node = spec.node_by_id[node_id]
        kids = [leaves[..., column[c.ref]] if c.ref in column else scores[c.ref] for c in node.children]
        scores[node_id] = combine(np.stack(kids, axis=-1), weights[node_id], node.aggregation)
    return scores


def coverage(spec: IndexSpec, present: np.ndarray) -> np.ndarray:
    """present (U, I) booleans -> (U,) share of the index's stated weight that had data."""
    shares = spec.global_weights()
    return present.astype(float) @ np.array([shares[i] for i in spec.indicator_ids()])
