"""The comparison report: the seeds' published figures beside ours, and the identities that must hold.

Published figures (conf/economy/published_figures.csv, each with the seed and the place in it) are
set beside the same figure of the run where the run covers that year; on DEMO inputs the
difference says nothing but the magnitude, and the `inputs` column says so. The identities hold
for any inputs and are checked on every run: direct + penetration = total; the three sectors,
the sections and the provinces each sum to the national figure; provincial weights sum to 1;
employment = value added / productivity; direct + penetration employment = employment.
"""

from __future__ import annotations

import math

import pandas as pd

COLUMNS = ["kind", "figure", "year", "key", "expected", "ours", "unit", "ratio", "holds", "seed", "location", "inputs"]
REL, ABS = 1e-9, 1e-6


def _ours(tables: dict[str, pd.DataFrame], figure: str, year: int, key: str) -> float | None:
    if figure == "penetration_to_direct":
        row = _row(tables["economy_national"], year)
        return None if row is None else float(row["penetration_va"] / row["direct_va"])
    scope, _, code = key.partition(" ")
    frame = {
        "national": "economy_national",
        "sector": "economy_three_sector",
        "section": "economy_section",
        "province": "economy_province",
    }.get(scope)
    if frame is None:
        return None
    t = tables[frame]
    if scope == "sector":
        t = t[t["sector"] == int(code)]
    elif scope == "section":
        t = t[t["section_code"] == code]
    elif scope == "province":
        t = t[t["province_code"] == code]
    row = _row(t, year)
    if row is None or figure not in row:
        return None
    return float(row[figure])


def _row(frame: pd.DataFrame, year: int):
    hit = frame[frame["year"] == year]
    return None if hit.empty else hit.iloc[0]


def published(tables: dict[str, pd.DataFrame], figures: pd.DataFrame, inputs: str) -> list[dict]:
    rows = []
    for f in figures.itertuples(index=False):
        ours = _ours(tables, f.figure, int(f.year), f.key)
        ratio = None if ours is None or not f.value else ours / f.value
        rows.append(
            {
                "kind": "published",
                "figure": f.figure,
                "year": int(f.year),
                "key": f.key,
                "expected": float(f.value),
                "ours": ours,
                "unit": f.unit,
                "ratio": ratio,
                "holds": None,
                "seed": f.seed,
                "location": f.location,
                "inputs": inputs,
            }
        )
    return rows


def _check(figure: str, year: int, key: str, expected: float, ours: float, unit: str) -> dict:
    holds = math.isclose(ours, expected, rel_tol=REL, abs_tol=ABS)
    return {
        "kind": "identity",
        "figure": figure,
        "year": int(year),
        "key": key,
        "expected": float(expected),
        "ours": float(ours),
        "unit": unit,
        "ratio": None,
        "holds": holds,
        "seed": None,
        "location": None,
        "inputs": None,
    }


def identities(tables: dict[str, pd.DataFrame], weights_mode: str) -> list[dict]:
    nat = tables["economy_national"].set_index("year")
    sec = tables["economy_section"].groupby("year")[["direct_va", "penetration_va", "total_va", "employment"]].sum()
    three = tables["economy_three_sector"].groupby("year")[["direct_va", "penetration_va", "total_va"]].sum()
    prov = tables["economy_province"]
    prov_sum = prov.groupby("year")[["direct_va", "penetration_va", "total_va", "employment"]].sum()
    ps = tables["economy_province_sector"]
    rows = []
    for year, n in nat.iterrows():
        rows.append(
            _check(
                "direct + penetration = total",
                year,
                "national",
                n["total_va"],
                n["direct_va"] + n["penetration_va"],
                "yi_yuan",
            )
        )
        for kind in ("direct_va", "penetration_va", "total_va"):
            rows.append(
                _check(
                    f"three sectors sum to national {kind}", year, "national", n[kind], three.at[year, kind], "yi_yuan"
                )
            )
            rows.append(
                _check(f"sections sum to national {kind}", year, "national", n[kind], sec.at[year, kind], "yi_yuan")
            )
            rows.append(
                _check(
                    f"provinces sum to national {kind}", year, "national", n[kind], prov_sum.at[year, kind], "yi_yuan"
                )
            )
        rows.append(
            _check(
                "employment = sum of provinces",
                year,
                "national",
                prov_sum.at[year, "employment"],
                n["employment"],
                "wan_person",
            )
        )
        rows.append(
            _check(
                "direct + penetration employment = employment",
                year,
                "national",
                n["employment"],
                n["direct_employment"] + n["penetration_employment"],
                "wan_person",
            )
        )
        if weights_mode == "by_sector":
            for sector, total in ps[ps["year"] == year].groupby("sector")["weight"].sum().items():
                rows.append(_check("provincial weights sum to 1", year, f"sector {sector}", 1.0, total, "ratio"))
        else:
            rows.append(
                _check(
                    "provincial weights sum to 1",
                    year,
                    "all sectors",
                    1.0,
                    ps.loc[ps["year"] == year, "weight"].sum(),
                    "ratio",
                )
            )
        p = prov[prov["year"] == year]
        worst = (p["employment"] - p["total_va"] / p["productivity"]).abs().idxmax()
        rows.append(
            _check(
                "employment = value added / productivity (worst province)",
                year,
                f"province {prov.at[worst, 'province_code']}",
                prov.at[worst, "total_va"] / prov.at[worst, "productivity"],
                prov.at[worst, "employment"],
                "wan_person",
            )
        )
    return rows


def base_year_check(tables: dict[str, pd.DataFrame], base_year: int) -> list[dict]:
    """The run's base-year totals against the IO table's Σ S_k(X_k - M_k) and Σ dz_i; they are equal when
    the yearbook's base-year section value added is the table's (true of the demo, not of real statistics)."""
    io = tables["economy_io_sector"]
    n = tables["economy_national"].set_index("year")
    rows = []
    for kind in ("direct_va", "penetration_va"):
        row = _check(
            f"base-year {kind} = IO table's",
            base_year,
            "national",
            float(io[kind].sum()),
            n.at[base_year, kind],
            "yi_yuan",
        )
        row["holds"] = math.isclose(row["ours"], row["expected"], rel_tol=1e-6)
        rows.append(row)
    return rows


def comparison(
    tables: dict[str, pd.DataFrame], figures: pd.DataFrame, weights_mode: str, base_year: int, demo: bool
) -> pd.DataFrame:
    rows = published(tables, figures, "DEMO" if demo else "as configured")
    rows += identities(tables, weights_mode) + base_year_check(tables, base_year)
    return pd.DataFrame(rows, columns=COLUMNS)
