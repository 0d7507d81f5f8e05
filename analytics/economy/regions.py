"""Three sectors and provinces (seed 004 附录二 "分地区工业互联网产业增加值测算"; seed 002 (三)).

η_n^j = Z_n^j / GDP_n^j is the share of sector j's value added that is IIoT value added, and
  by_sector (004):  ω_in^j = GDP_in^j η_n^j / Σ_i GDP_in^j η_n^j,   Z_in^j = Z_n^j ω_in^j
  pooled (002):     ω_in   = Σ_j GDP_in^j η_n^j / Σ_i Σ_j GDP_in^j η_n^j,   Z_in = Z_n ω_in
In by_sector η cancels (ω is the province's share of the sector's GDP); it only matters in pooled.
Choices: GDP_n^j is the national value added of the sections of sector j (section_value_added.csv,
the same source as Z_n^j), not the sum of provincial GDP, which differs from it in the real
statistics; where η_n^j = 0 the by_sector weights fall back to the GDP shares, so they still sum to 1.
Direct and penetration value added are allocated with the same weights, so they add up by province.
"""

from __future__ import annotations

import pandas as pd

SECTOR_INDICATORS = {1: "gdp_primary", 2: "gdp_secondary", 3: "gdp_tertiary"}
KINDS = ("direct_va", "penetration_va")


def by_three_sectors(by_section: pd.DataFrame, sector_of: dict[str, int], value_cols: list[str]) -> pd.DataFrame:
    """Long (year, section_code, values...) -> (year, sector, summed values)."""
    frame = by_section.assign(sector=by_section["section_code"].map(sector_of))
    if frame["sector"].isna().any():
        missing = sorted(frame.loc[frame["sector"].isna(), "section_code"].unique())
        raise ValueError(f"sections {', '.join(missing)} are in none of the three sectors")
    out = frame.groupby(["year", "sector"], as_index=False)[value_cols].sum()
    out["sector"] = out["sector"].astype(int)
    return out


def provincial_gdp_long(provincial: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """(year, province_code, sector, gdp) from the year x province frames of the three sectors."""
    parts = []
    for sector, indicator in SECTOR_INDICATORS.items():
        frame = provincial[indicator].stack().rename("gdp").reset_index()
        frame.columns = ["year", "province_code", "gdp"]
        parts.append(frame.assign(sector=sector))
    return pd.concat(parts, ignore_index=True)[["year", "province_code", "sector", "gdp"]]


def weights(gdp: pd.DataFrame, eta: pd.DataFrame, mode: str) -> pd.DataFrame:
    """ω per (year, province_code, sector): of Z_n^j (by_sector) or of Z_n (pooled)."""
    frame = gdp.merge(eta[["year", "sector", "eta"]], on=["year", "sector"], how="left", validate="many_to_one")
    frame["weighted"] = frame["gdp"] * frame["eta"]
    if mode == "by_sector":
        total = frame.groupby(["year", "sector"])["weighted"].transform("sum")
        share = frame["gdp"] / frame.groupby(["year", "sector"])["gdp"].transform("sum")
        frame["weight"] = (frame["weighted"] / total).where(total > 0, share)
    elif mode == "pooled":
        frame["weight"] = frame["weighted"] / frame.groupby("year")["weighted"].transform("sum")
    else:
        raise ValueError(f"unknown regional weights {mode!r}")
    return frame[["year", "province_code", "sector", "gdp", "eta", "weight"]]


def allocate(w: pd.DataFrame, sectors: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Z_in^j of each kind (direct, penetration) from the national figures by sector (and year)."""
    if mode == "by_sector":
        frame = w.merge(sectors[["year", "sector", *KINDS]], on=["year", "sector"], how="left", validate="many_to_one")
        for kind in KINDS:
            frame[kind] = frame[kind] * frame["weight"]
    else:
        national = sectors.groupby("year", as_index=False)[list(KINDS)].sum()
        frame = w.merge(national, on="year", how="left", validate="many_to_one")
        for kind in KINDS:
            frame[kind] = frame[kind] * frame["weight"]
    frame["total_va"] = frame["direct_va"] + frame["penetration_va"]
    return frame[["year", "province_code", "sector", "gdp", "eta", "weight", *KINDS, "total_va"]]
