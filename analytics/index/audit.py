"""Recover the weights a published index actually used from its printed totals and components.

A published table gives, per unit, a node's score (e.g. the total) and its children's scores. If
the publisher took a weighted arithmetic mean, total = sum_k w_k * component_k with w >= 0 and
sum w = 1; constrained least squares recovers w. Residuals near the rounding of the table (a
2-decimal table: RMSE ~ 0.003) mean the model fits; recovered weights far from the stated ones
mean the publisher did not use what it states.

Solver: SLSQP (scipy) for the inequality-constrained problem, then an exact polish: the equality-
constrained least squares on the weights SLSQP left positive, solved from its KKT system, kept
when it stays non-negative and fits at least as well. That recovers exact weights to ~1e-12.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from analytics.index.inputs import IndexDataError
from analytics.index.spec import IndexSpec

# Numerical settings of the solver, not modelling choices.
_FTOL = 1e-15
_MAX_ITER = 1000
_ZERO = 1e-10


@dataclass(frozen=True)
class AuditResult:
    node: str
    weights: pd.DataFrame  # component, name_zh, stated_weight, recovered_weight, difference, disagrees
    residuals: pd.DataFrame  # unit, published, fitted, residual, fitted_stated, residual_stated
    rmse: float  # with the recovered weights
    max_abs_residual: float
    rmse_stated: float  # with the spec's stated weights
    dropped_units: tuple[str, ...]  # rows with a missing value, left out
    tolerance: float

    @property
    def disagreements(self) -> list[str]:
        return self.weights.loc[self.weights["disagrees"], "component"].tolist()


def _sse(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    r = x @ w - y
    return float(r @ r)


def _equality_ls(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """min ||x w - y||^2 subject to sum w = 1, from the KKT system (least squares if singular)."""
    k = x.shape[1]
    kkt = np.zeros((k + 1, k + 1))
    kkt[:k, :k] = 2 * x.T @ x
    kkt[:k, k] = kkt[k, :k] = 1.0
    rhs = np.r_[2 * x.T @ y, 1.0]
    return np.linalg.lstsq(kkt, rhs, rcond=None)[0][:k]


def recover_weights(components: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Weights >= 0 summing to 1 that best reproduce totals from components (units x K)."""
    x, y = np.asarray(components, dtype=float), np.asarray(totals, dtype=float)
    k = x.shape[1]
    start = np.full(k, 1.0 / k)
    fit = minimize(
        _sse,
        start,
        args=(x, y),
        jac=lambda w, x, y: 2 * x.T @ (x @ w - y),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}],
        options={"ftol": _FTOL, "maxiter": _MAX_ITER},
    )
    w = np.clip(fit.x, 0.0, None)
    w = w / w.sum()
    support = w > _ZERO
    polished = np.zeros(k)
    polished[support] = _equality_ls(x[:, support], y)
    if (polished >= 0).all() and _sse(polished, x, y) <= _sse(w, x, y):
        return polished
    return w


def _column(frame: pd.DataFrame, names: list[str], what: str) -> str:
    for name in names:
        if name in frame.columns:
            return name
    raise IndexDataError(f"published table has no column for {what} (tried: {', '.join(names)})")


def audit(
    spec: IndexSpec, published: pd.DataFrame, node: str | None = None, fill_missing: float | None = None
) -> AuditResult:
    """Audit `node` (default: the root) against a table with `unit`, the node's children (id or
    Chinese name) and the node's score (`total`, its id or its Chinese name)."""
    node = node or spec.root
    if node not in spec.node_by_id:
        raise IndexDataError(f"spec {spec.id!r} has no node {node!r} (nodes: {', '.join(spec.node_ids())})")
    target = spec.node_by_id[node]
    if "unit" not in published.columns:
        raise IndexDataError("published table lacks column 'unit'")
    kids = [c.ref for c in target.children]
    cols = [_column(published, [k, spec.label_zh(k)], f"component {k!r}") for k in kids]
    total_names = ["total", node, target.name_zh] if node == spec.root else [node, target.name_zh]
    total_col = _column(published, total_names, f"the score of {node!r}")
    frame = published[["unit", *cols, total_col]].copy()
    frame["unit"] = frame["unit"].astype(str)
    for c in [*cols, total_col]:
        text = frame[c].astype(str).str.strip()
        values = pd.to_numeric(frame[c], errors="coerce")
        bad = values.isna() & frame[c].notna() & ~text.isin(["", "-", "nan"])
        if bad.any():
            raise IndexDataError(
                f"published table: column {c!r} has non-numbers: {', '.join(text[bad].head().tolist())}"
            )
        frame[c] = values
    if fill_missing is not None:
        frame[cols] = frame[cols].fillna(fill_missing)
    incomplete = frame[[*cols, total_col]].isna().any(axis=1)
    dropped = tuple(frame.loc[incomplete, "unit"])
    frame = frame[~incomplete]
    if len(frame) < len(kids):
        raise IndexDataError(f"published table: {len(frame)} complete row(s) cannot identify {len(kids)} weights")
    x, y = frame[cols].to_numpy(dtype=float), frame[total_col].to_numpy(dtype=float)
    stated = np.array([c.weight for c in target.children])
    w = recover_weights(x, y)
    fitted, fitted_stated = x @ w, x @ stated
    tol = spec.audit.weight_tolerance
    weights = pd.DataFrame(
        {
            "component": kids,
            "name_zh": [spec.label_zh(k) for k in kids],
            "stated_weight": stated,
            "recovered_weight": w,
            "difference": w - stated,
        }
    )
    weights["disagrees"] = weights["difference"].abs() > tol
    residuals = pd.DataFrame(
        {
            "unit": frame["unit"].to_numpy(),
            "published": y,
            "fitted": fitted,
            "residual": y - fitted,
            "fitted_stated": fitted_stated,
            "residual_stated": y - fitted_stated,
        }
    )
    return AuditResult(
        node=node,
        weights=weights,
        residuals=residuals,
        rmse=math.sqrt(float(np.mean((y - fitted) ** 2))),
        max_abs_residual=float(np.max(np.abs(y - fitted))),
        rmse_stated=math.sqrt(float(np.mean((y - fitted_stated) ** 2))),
        dropped_units=dropped,
        tolerance=tol,
    )
