"""Input-output algebra of the base year: direct value added, and penetration value added through
the table augmented with one virtual pure-IIoT sector per related sector (seeds 002/004 附录二).

Coefficients and the Leontief inverse come from pymrio (`calc_A`, `calc_L`), the field's IO library;
what is specific to the seeds (the split into virtual sectors, the ΔY sum) is numpy/pandas here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pymrio.tools import iomath

from analytics.economy.inputs import IOTable

VIRTUAL_PREFIX = "IIoT:"


def coefficients(flows: pd.DataFrame, total_output: pd.Series) -> pd.DataFrame:
    """a_ij = x_ij / X_j (columns of zero output get zero coefficients, as pymrio does)."""
    return iomath.calc_A(flows, total_output.to_frame("indout"))


def leontief_inverse(a: pd.DataFrame) -> pd.DataFrame:
    """C = (I - A)^-1."""
    return iomath.calc_L(a)


def direct_value_added(value_added: pd.Series, s_k: pd.Series) -> pd.Series:
    """Z_direct = sum_k S_k (X_k - M_k): per related sector k, S_k times its value added (净产出)."""
    return (s_k * value_added.reindex(s_k.index)).rename("direct_va")


@dataclass(frozen=True)
class Augmented:
    """The table with m virtual sectors appended (seeds: rows/columns 150..160 of the 149-sector table).

    `parent` and `share` say, for every row/column, which original sector it is a part of and
    which share of it: original sector i keeps 1 - S_i (1 if unrelated), virtual sector p gets S_k.
    """

    table: IOTable
    parent: pd.Series
    share: pd.Series
    virtual: tuple[str, ...]

    @property
    def original(self) -> list[str]:
        return [s for s in self.table.sectors if s not in self.virtual]


def augment(io: IOTable, s_k: pd.Series, split: str = "mixed") -> Augmented:
    """Split every related sector k into a virtual pure-IIoT sector (share S_k) and a remainder (1 - S_k).

    Seeds: "将工业互联网子行业全部单独提出来，设置成 11 个虚拟的纯工业互联网行业，而原始的矩阵全部为
    非工业互联网行业的部分" — they do not say how the parent's row and column are divided. Choice
    (setting augmentation.split): with sigma_a the share of its parent P(a) that row/column a is,
      z'_ab = sigma_a sigma_b z_P(a)P(b),  f'_a = sigma_a f_P(a),  x'_a = sigma_a x_P(a),
    i.e. the virtual sector has its parent's technology (input structure) and its parent's customers.
    Because the shares of each parent sum to 1, every row (sum_b z'_ab + f'_a = x'_a) and column
    (sum_a z'_ab + v'_b = x'_b) identity of the original holds in the augmented table, and summing
    the parts of each parent gives back the original table exactly. `segregated` keeps a parent's
    own-use flow z_kk inside each part (z'_pp = S z_kk, z'_kk = (1 - S) z_kk, none between them).
    """
    related = [k for k in io.sectors if k in s_k.index]
    virtual = tuple(f"{VIRTUAL_PREFIX}{k}" for k in related)
    labels = io.sectors + list(virtual)
    parent = pd.Series(io.sectors + related, index=labels, name="parent")
    share = pd.Series(
        [1.0 - float(s_k.get(s, 0.0)) for s in io.sectors] + [float(s_k[k]) for k in related],
        index=labels,
        name="share",
    )
    z = io.flows.loc[parent.values, parent.values].to_numpy() * np.outer(share.values, share.values)
    if split == "segregated":
        for k, p in zip(related, virtual):
            i, j = labels.index(k), labels.index(p)
            z[j, j] += z[j, i]
            z[i, i] += z[i, j]
            z[j, i] = z[i, j] = 0.0
    elif split != "mixed":
        raise ValueError(f"unknown augmentation split {split!r}")
    flows = pd.DataFrame(z, index=labels, columns=labels)
    f = pd.Series(io.final_demand.loc[parent.values].to_numpy() * share.values, index=labels, name="final_demand")
    x = pd.Series(io.total_output.loc[parent.values].to_numpy() * share.values, index=labels, name="total_output")
    names = pd.Series(list(io.names.values) + [f"{io.names[k]} (IIoT part)" for k in related], index=labels)
    return Augmented(IOTable(flows, f, x, names), parent, share, virtual)


def penetration(aug: Augmented) -> pd.DataFrame:
    """Per original sector i: ΔY_i, λ_i and dz_i of the seeds' formula.

      ΔY = sum_j C[1..n, n+j] ΔX_{n+j} / C_{n+j,n+j},  ΔX_{n+j} = X_{k_j} S_{k_j}  (the virtual sector's output)
      λ_i = ΔY_i / X'_i,  dz_i = λ_i (X'_i - M'_i),  Z_indirect = sum_i dz_i

    C_{:,p} / C_pp is the output of every sector needed per unit of output of p, so ΔY is the output
    of the rest of the economy that the IIoT parts' output draws on (their own output is the direct
    part, hence the sum runs over the n original sectors only). X'_i, M'_i are those of the augmented
    table (the non-IIoT part of a related sector); since splitting keeps value-added ratios,
    dz_i = ΔY_i v_i / x_i either way. λ_i is 0 where X'_i is 0 (a sector wholly IIoT, S_k = 1).
    """
    t = aug.table
    c = leontief_inverse(coefficients(t.flows, t.total_output))
    original = aug.original
    delta_y = pd.Series(0.0, index=original)
    for p in aug.virtual:
        if t.total_output[p] > 0:
            delta_y += c.loc[original, p] * t.total_output[p] / c.loc[p, p]
    x = t.total_output[original]
    va = t.value_added[original]
    lam = (delta_y / x.where(x > 0)).fillna(0.0)
    return pd.DataFrame({"delta_y": delta_y, "lambda": lam, "penetration_va": lam * va})


def base_year(io: IOTable, s_k: pd.Series, split: str) -> pd.DataFrame:
    """One row per IO sector: output, value added, S_k, direct and penetration value added of the base year."""
    aug = augment(io, s_k, split)
    pen = penetration(aug)
    s = s_k.reindex(io.sectors).fillna(0.0)
    direct = direct_value_added(io.value_added, s_k).reindex(io.sectors).fillna(0.0)
    return pd.DataFrame(
        {
            "sector_name": io.names,
            "s_k": s,
            "total_output": io.total_output,
            "intermediate_input": io.intermediate_input,
            "value_added": io.value_added,
            "direct_va": direct,
            "delta_y": pen["delta_y"],
            "lambda": pen["lambda"],
            "penetration_va": pen["penetration_va"],
        }
    )
