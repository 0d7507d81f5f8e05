"""Regional allocation and employment identities, over random positive inputs (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.economy import employment, regions

positive = st.floats(min_value=0.01, max_value=1e6, allow_nan=False)


@st.composite
def economies(draw):
    provinces = draw(st.integers(min_value=1, max_value=8))
    years = draw(st.integers(min_value=1, max_value=3))
    codes = [f"{11 + i}" for i in range(provinces)]
    gdp = [
        {"year": 2017 + y, "province_code": p, "sector": j, "gdp": draw(positive)}
        for y in range(years)
        for p in codes
        for j in (1, 2, 3)
    ]
    sectors = [
        {
            "year": 2017 + y,
            "sector": j,
            "direct_va": draw(positive),
            "penetration_va": draw(positive),
            "gdp": draw(positive),
        }
        for y in range(years)
        for j in (1, 2, 3)
    ]
    labour = {(2017 + y, p): draw(positive) for y in range(years) for p in codes}
    return pd.DataFrame(gdp), pd.DataFrame(sectors), labour


def _eta(sectors: pd.DataFrame) -> pd.DataFrame:
    out = sectors.copy()
    out["total_va"] = out["direct_va"] + out["penetration_va"]
    out["eta"] = out["total_va"] / out["gdp"]
    return out


@settings(max_examples=80, deadline=None)
@given(economies())
def test_by_sector_weights_sum_to_one_and_allocation_adds_up(economy):
    gdp, sectors, _ = economy
    three = _eta(sectors)
    w = regions.weights(gdp, three, "by_sector")
    np.testing.assert_allclose(w.groupby(["year", "sector"])["weight"].sum(), 1.0, rtol=1e-12)
    # η cancels: ω is the province's share of the sector's GDP
    np.testing.assert_allclose(w["weight"], w["gdp"] / w.groupby(["year", "sector"])["gdp"].transform("sum"), rtol=1e-9)
    z = regions.allocate(w, three, "by_sector")
    summed = z.groupby(["year", "sector"])[["direct_va", "penetration_va", "total_va"]].sum()
    expected = three.set_index(["year", "sector"])[["direct_va", "penetration_va", "total_va"]].loc[summed.index]
    np.testing.assert_allclose(summed.to_numpy(), expected.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(z["total_va"], z["direct_va"] + z["penetration_va"], rtol=1e-12)


@settings(max_examples=80, deadline=None)
@given(economies())
def test_pooled_weights_sum_to_one_and_provinces_add_up_to_the_nation(economy):
    gdp, sectors, _ = economy
    three = _eta(sectors)
    w = regions.weights(gdp, three, "pooled")
    np.testing.assert_allclose(w.groupby("year")["weight"].sum(), 1.0, rtol=1e-12)
    z = regions.allocate(w, three, "pooled")
    np.testing.assert_allclose(z.groupby("year")["total_va"].sum(), three.groupby("year")["total_va"].sum(), rtol=1e-9)


@settings(max_examples=80, deadline=None)
@given(economies())
def test_employment_is_value_added_over_productivity(economy):
    gdp, sectors, labour = economy
    three = _eta(sectors)
    z = regions.allocate(regions.weights(gdp, three, "by_sector"), three, "by_sector")
    prov = z.groupby(["year", "province_code"], as_index=False)[
        ["gdp", "direct_va", "penetration_va", "total_va"]
    ].sum()
    prov["labour"] = [labour[(y, p)] for y, p in zip(prov["year"], prov["province_code"])]
    prov = employment.by_province(prov)
    np.testing.assert_allclose(prov["employment"] * prov["productivity"], prov["total_va"], rtol=1e-9)
    np.testing.assert_allclose(prov["employment"], prov["total_va"] * prov["labour"] / prov["gdp"], rtol=1e-9)
    np.testing.assert_allclose(
        prov["direct_employment"] + prov["penetration_employment"], prov["employment"], rtol=1e-9
    )
    nat = employment.national(prov)
    np.testing.assert_allclose(nat["employment"], prov.groupby("year")["employment"].sum().to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(nat["direct_employment"] + nat["penetration_employment"], nat["employment"], rtol=1e-9)
    np.testing.assert_allclose(
        nat["productivity"],
        (prov.groupby("year")["gdp"].sum() / prov.groupby("year")["labour"].sum()).to_numpy(),
        rtol=1e-9,
    )
