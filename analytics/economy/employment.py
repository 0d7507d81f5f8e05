"""Employment driven by the IIoT value added (seed 002 附录二 二、就业带动贡献测算).

By province: Pro_in = GDP_in / L_in (average labour productivity), E_in = Z_in / Pro_in; nationally
E_n = Σ_i E_in, split into direct and penetration by the value-added shares
(E_direct = E_n Z_direct / (Z_direct + Z_indirect)). By section: E_s = Z_s / Pro_n with
Pro_n = Σ_i GDP_in / Σ_i L_in (the seeds' national productivity; choice: the provincial sums, so
province and section figures rest on the same statistics). With Z in 亿元 and L in 万人, Pro is in
亿元 per 万人 (= 万元 per person) and E in 万人.
"""

from __future__ import annotations

import pandas as pd


def by_province(provinces: pd.DataFrame) -> pd.DataFrame:
    """Adds productivity and employment (total, direct, penetration) to (year, province_code, gdp, labour, *_va)."""
    frame = provinces.copy()
    frame["productivity"] = frame["gdp"] / frame["labour"]
    frame["employment"] = frame["total_va"] / frame["productivity"]
    share = (frame["direct_va"] / frame["total_va"]).where(frame["total_va"] > 0, 0.0)
    frame["direct_employment"] = frame["employment"] * share
    frame["penetration_employment"] = frame["employment"] - frame["direct_employment"]
    return frame


def national(provinces: pd.DataFrame) -> pd.DataFrame:
    """E_n = Σ_i E_in, split by the national value-added shares; and Pro_n of the section figures."""
    sums = provinces.groupby("year", as_index=False)[["gdp", "labour", "employment", "direct_va", "total_va"]].sum()
    share = (sums["direct_va"] / sums["total_va"]).where(sums["total_va"] > 0, 0.0)
    return pd.DataFrame(
        {
            "year": sums["year"],
            "productivity": sums["gdp"] / sums["labour"],
            "employment": sums["employment"],
            "direct_employment": sums["employment"] * share,
            "penetration_employment": sums["employment"] * (1 - share),
        }
    )


def by_section(sections: pd.DataFrame, productivity: pd.DataFrame) -> pd.DataFrame:
    """E_direct,s = Z_direct,s / Pro_n and E_indirect,s = Z_indirect,s / Pro_n."""
    frame = sections.merge(productivity[["year", "productivity"]], on="year", how="left", validate="many_to_one")
    frame["direct_employment"] = frame["direct_va"] / frame["productivity"]
    frame["penetration_employment"] = frame["penetration_va"] / frame["productivity"]
    frame["employment"] = frame["direct_employment"] + frame["penetration_employment"]
    return frame
