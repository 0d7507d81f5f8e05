"""IO algebra of the economic accounting: Miller & Blair's example, and the virtual-sector augmentation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.economy import leontief
from analytics.economy.inputs import IOTable


def table(z, f, names=None) -> IOTable:
    z = pd.DataFrame(z, index=names, columns=names, dtype=float)
    f = pd.Series(f, index=z.index, dtype=float)
    x = z.sum(axis=1) + f
    return IOTable(z, f, x, pd.Series([str(c) for c in z.index], index=z.index))


def test_miller_blair_chapter_2():
    """Miller & Blair (2009), section 2.3: Z = [[150, 500], [200, 100]], x = (1000, 2000)."""
    z = pd.DataFrame([[150.0, 500.0], [200.0, 100.0]])
    a = leontief.coefficients(z, pd.Series([1000.0, 2000.0]))
    np.testing.assert_allclose(a.to_numpy(), [[0.15, 0.25], [0.20, 0.05]], atol=1e-12)
    c = leontief.leontief_inverse(a)
    np.testing.assert_allclose(c.to_numpy(), [[1.25412541, 0.330033], [0.2640264, 1.12211221]], atol=5e-7)
    # value-added coefficients (1 - column sums of A) times L: one unit of final demand is one unit of value added
    v = np.array([0.65, 0.70])
    np.testing.assert_allclose(v @ c.to_numpy(), [1.0, 1.0], atol=1e-12)


HAND = table([[0, 20, 10], [0, 0, 0], [0, 10, 0]], [70, 100, 40], list("abc"))


def test_augmentation_by_hand():
    """Three sectors; b (electronics, say) is related with S_b = 0.5 and sells only to final demand.

        Z = a: [0, 20, 10]  f = (70, 100, 40)  x = (100, 100, 50)  v = x - column sums = (100, 70, 40)
            b: [0,  0,  0]
            c: [0, 10,  0]
    Augmented (mixed split, shares σ = a 1, b 0.5, c 1, p = IIoT:b 0.5; z'_ab = σ_a σ_b z_P(a)P(b)):
        columns a, b, c, p:  a: [0, 10, 10, 10]   b: 0   c: [0, 5, 0, 5]   p: 0
        x' = (100, 50, 50, 50), f' = (70, 50, 40, 50), v' = (100, 35, 40, 35)
    A' = Z' / x'_j: a->b 0.2, a->c 0.2, a->p 0.2, c->b 0.1, c->p 0.1. Nobody buys from p, so C_pp = 1;
    per unit of p: 0.2 of a directly, 0.1 of c, and c's 0.1 needs 0.02 more of a: C[:, p] = (0.22, 0, 0.1, 1).
    ΔX_p = S_b X_b = 50, so ΔY = (11, 0, 5); λ = ΔY / x' = (0.11, 0, 0.1); dz = λ v' = (11, 0, 4).
    Direct value added: S_b (X_b - M_b) = 0.5 * 70 = 35; penetration: 11 + 4 = 15.
    """
    aug = leontief.augment(HAND, pd.Series({"b": 0.5}))
    t = aug.table
    expected = [[0, 10, 10, 10], [0, 0, 0, 0], [0, 5, 0, 5], [0, 0, 0, 0]]
    np.testing.assert_allclose(t.flows.to_numpy(), expected)
    np.testing.assert_allclose(t.total_output.to_numpy(), [100, 50, 50, 50])
    np.testing.assert_allclose(t.final_demand.to_numpy(), [70, 50, 40, 50])
    np.testing.assert_allclose(t.value_added.to_numpy(), [100, 35, 40, 35])
    base = leontief.base_year(HAND, pd.Series({"b": 0.5}), "mixed")
    np.testing.assert_allclose(base["delta_y"].to_numpy(), [11, 0, 5], atol=1e-12)
    np.testing.assert_allclose(base["lambda"].to_numpy(), [0.11, 0, 0.1], atol=1e-12)
    np.testing.assert_allclose(base["penetration_va"].to_numpy(), [11, 0, 4], atol=1e-12)
    np.testing.assert_allclose(base["direct_va"].to_numpy(), [0, 35, 0], atol=1e-12)


FEEDBACK = table([[10, 20, 5, 0], [15, 30, 10, 5], [5, 10, 20, 10], [0, 5, 5, 2]], [65, 40, 55, 30], list("wxyz"))


def test_four_sectors_with_own_use_and_feedback():
    """Four sectors, two related (x with 0.3, z with 0.6), with own use and flows both ways.

    Checked against the definition with a plain numpy inverse of the augmented table (no pymrio):
    the identities of the original hold, and the parts of every parent add up to the original.
    """
    s = pd.Series({"x": 0.3, "z": 0.6})
    for split in ("mixed", "segregated"):
        aug = leontief.augment(FEEDBACK, s, split)
        t = aug.table
        np.testing.assert_allclose(t.flows.sum(axis=1) + t.final_demand, t.total_output, rtol=1e-12)
        np.testing.assert_allclose(t.flows.sum(axis=0) + t.value_added, t.total_output, rtol=1e-12)
        parents = aug.parent.to_numpy()
        back = t.flows.groupby(parents).sum().T.groupby(parents).sum().T
        np.testing.assert_allclose(
            back.loc[list("wxyz"), list("wxyz")].to_numpy(), FEEDBACK.flows.to_numpy(), rtol=1e-12
        )
        z, x = t.flows.to_numpy(), t.total_output.to_numpy()
        c = np.linalg.inv(np.eye(len(x)) - z / x)
        dy = sum(c[:4, j] * x[j] / c[j, j] for j in (4, 5))
        got = leontief.penetration(aug)
        np.testing.assert_allclose(got["delta_y"].to_numpy(), dy, rtol=1e-10)
        np.testing.assert_allclose(
            got["penetration_va"].sum(), (dy * FEEDBACK.value_added / FEEDBACK.total_output).sum(), rtol=1e-10
        )
    mixed = leontief.augment(FEEDBACK, s, "mixed").table.flows
    segregated = leontief.augment(FEEDBACK, s, "segregated").table.flows
    assert mixed.at["IIoT:x", "x"] == pytest.approx(0.3 * 0.7 * 30) and segregated.at["IIoT:x", "x"] == 0
    assert segregated.at["IIoT:x", "IIoT:x"] == pytest.approx(0.3 * 30)


def test_zero_coefficient_gives_zero_direct_and_penetration():
    base = leontief.base_year(FEEDBACK, pd.Series({"x": 0.0, "z": 0.0}), "mixed")
    assert (base["direct_va"] == 0).all() and (base["penetration_va"] == 0).all()
    one = leontief.base_year(FEEDBACK, pd.Series({"x": 0.0, "z": 0.6}), "mixed")
    two = leontief.base_year(FEEDBACK, pd.Series({"z": 0.6}), "mixed")
    pd.testing.assert_frame_equal(one.drop(columns="s_k"), two.drop(columns="s_k"))


def test_results_do_not_depend_on_the_order_of_sectors():
    s = pd.Series({"x": 0.3, "z": 0.6})
    order = list("zywx")
    shuffled = table(FEEDBACK.flows.loc[order, order].to_numpy(), FEEDBACK.final_demand[order].to_numpy(), order)
    a = leontief.base_year(FEEDBACK, s, "mixed")
    b = leontief.base_year(shuffled, s[["z", "x"]], "mixed").loc[a.index]
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


flows = st.integers(min_value=2, max_value=6).flatmap(
    lambda n: st.tuples(
        st.lists(st.lists(st.floats(0, 100), min_size=n, max_size=n), min_size=n, max_size=n),
        st.lists(st.floats(1, 500), min_size=n, max_size=n),
        st.lists(st.floats(0, 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(flows)
def test_augmented_tables_keep_the_identities(data):
    z, f, s = data
    n = len(f)
    # shrink columns whose intermediate input exceeds 90% of output (a productive economy, positive
    # value added); what a column no longer buys goes to final demand, so outputs stay as drawn
    z = np.array(z)
    x = z.sum(axis=1) + np.array(f)
    z = z * np.minimum(1.0, 0.9 * x / np.maximum(z.sum(axis=0), 1e-9))[None, :]
    io = table(z, x - z.sum(axis=1), [f"s{i}" for i in range(n)])
    shares = pd.Series(s, index=io.sectors)
    aug = leontief.augment(io, shares)
    t = aug.table
    np.testing.assert_allclose(t.flows.sum(axis=1) + t.final_demand, t.total_output, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(t.flows.sum(axis=0) + t.value_added, t.total_output, rtol=1e-9, atol=1e-9)
    base = leontief.base_year(io, shares, "mixed")
    assert (base["penetration_va"] >= -1e-9).all()
    np.testing.assert_allclose(base["direct_va"], shares * io.value_added, rtol=1e-12)
