"""The whole accounting on pandas: inputs + settings -> every output table (no Spark).

Base year (the IO table's year): direct and penetration value added per IO sector, summed per
section and divided by the section's value added give the contribution rates. Year n: direct
rate (constant, seeds: "由...直接贡献率和各行业大类增加值") and penetration rate (the base rate times
the product of the annual multipliers since the base year) times the section's value added of
year n; then three sectors, provinces and employment. Years run from the base year to
`last_year` (default: the last year of section_value_added.csv); missing inputs are extrapolated.
The national GDP of the GDP share is the sum of the sections' value added (the yearbook's GDP by
industry), the same source as the numerator.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analytics.economy import employment, extrapolate, leontief, production, regions
from analytics.economy.inputs import PROVINCIAL_INDICATORS, EconomyInputs
from analytics.economy.settings import EconomySettings


@dataclass(frozen=True)
class Accounts:
    tables: dict[str, pd.DataFrame]
    fit: production.Fit
    years: tuple[int, ...]
    estimated: tuple[dict, ...]


def _years(inputs: EconomyInputs, cfg: EconomySettings) -> list[int]:
    last = cfg.last_year if cfg.last_year is not None else int(inputs.section_va.dropna(how="all").index.max())
    return list(range(cfg.base_year, last + 1))


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator != 0)).fillna(0.0)


def compute(inputs: EconomyInputs, cfg: EconomySettings) -> Accounts:
    years = _years(inputs, cfg)
    window = cfg.extrapolation.window
    sector_of = cfg.three_sectors.of_section()

    # --- base year: the IO table -------------------------------------------------------------
    base = leontief.base_year(inputs.io, inputs.s_k, cfg.augmentation.split)
    base["section_code"] = inputs.section_of
    per_section = base.groupby("section_code")[["value_added", "direct_va", "penetration_va"]].sum()
    per_section = per_section.reindex(list(inputs.sections)).fillna(0.0)

    # --- yearly series, extrapolated where the inputs stop -----------------------------------
    section_va, notes = extrapolate.fill_frame(inputs.section_va, years, window, "section_value_added")
    fit_years = list(range(cfg.production_function.fit_first, cfg.production_function.fit_last + 1))
    fit = production.fit(inputs.national, fit_years[0], fit_years[-1])
    national_in, more = extrapolate.fill_frame(inputs.national, fit_years + years, window, "national_series")
    notes += more
    provincial = {}
    for indicator in PROVINCIAL_INDICATORS:
        provincial[indicator], more = extrapolate.fill_frame(
            inputs.provincial[indicator], years, window, f"provincial_accounts.{indicator}"
        )
        notes += more

    # --- contribution rates and the annual multiplier ----------------------------------------
    denominator = per_section["value_added"] if cfg.rates.denominator == "io_table" else section_va.loc[cfg.base_year]
    direct_rate = _rate(per_section["direct_va"], denominator)
    base_pen_rate = _rate(per_section["penetration_va"], denominator)
    gam = production.gamma(national_in, fit, cfg.production_function.fit_last)
    cumulative = {
        y: float(gam.loc[cfg.base_year + 1 : y, "multiplier"].prod()) if y > cfg.base_year else 1.0 for y in years
    }

    rows = []
    for y in years:
        for s in inputs.sections:
            va = float(section_va.at[y, s])
            pen_rate = float(base_pen_rate[s]) * cumulative[y]
            rows.append(
                {
                    "year": y,
                    "section_code": s,
                    "sector": sector_of[s],
                    "section_va": va,
                    "direct_rate": float(direct_rate[s]),
                    "penetration_rate": pen_rate,
                    "direct_va": float(direct_rate[s]) * va,
                    "penetration_va": pen_rate * va,
                }
            )
    sections = pd.DataFrame(rows)
    sections["total_va"] = sections["direct_va"] + sections["penetration_va"]

    # --- three sectors and provinces ----------------------------------------------------------
    three = regions.by_three_sectors(
        sections.rename(columns={"section_va": "gdp"}), sector_of, ["gdp", "direct_va", "penetration_va", "total_va"]
    )
    three["eta"] = _rate(three["total_va"], three["gdp"])
    prov_gdp = regions.provincial_gdp_long({k: v.loc[years] for k, v in provincial.items()})
    w = regions.weights(prov_gdp, three, cfg.regions.weights)
    prov_sector = regions.allocate(w, three, cfg.regions.weights)
    prov = prov_sector.groupby(["year", "province_code"], as_index=False)[
        ["gdp", "direct_va", "penetration_va", "total_va"]
    ].sum()
    labour = provincial["employment"].loc[years].stack().rename("labour").reset_index()
    labour.columns = ["year", "province_code", "labour"]
    prov = prov.merge(labour, on=["year", "province_code"], how="left", validate="one_to_one")
    prov["gdp_share"] = prov["total_va"] / prov["gdp"]
    prov = employment.by_province(prov)

    # --- employment and the national table ---------------------------------------------------
    emp = employment.national(prov)
    sections = employment.by_section(sections, emp)
    nat = sections.groupby("year", as_index=False)[["section_va", "direct_va", "penetration_va", "total_va"]].sum()
    nat = nat.rename(columns={"section_va": "gdp"})
    nat["gdp_share"] = nat["total_va"] / nat["gdp"]
    nat["penetration_rate_multiplier"] = nat["year"].map(cumulative)
    nat = nat.merge(gam[["gamma", "multiplier"]].reset_index(), on="year", how="left", validate="one_to_one")
    nat = nat.merge(emp, on="year", how="left", validate="one_to_one")
    estimated_years = {n["year"] for n in notes if n["year"] in years}
    nat["estimated_inputs"] = nat["year"].isin(estimated_years)

    io_sector = base.reset_index(names="sector_code")
    gam_out = gam.reset_index()
    fit_row = pd.DataFrame([{**fit.as_dict(), "fit_first": fit_years[0], "fit_last": fit_years[-1]}])
    tables = {
        "economy_national": nat,
        "economy_section": sections,
        "economy_three_sector": three,
        "economy_province": prov,
        "economy_province_sector": prov_sector,
        "economy_io_sector": io_sector,
        "economy_production": gam_out,
        "economy_production_fit": fit_row,
        "economy_estimated_inputs": pd.DataFrame(notes, columns=["table", "column", "year", "value"]),
    }
    return Accounts(tables, fit, tuple(years), tuple(notes))
