"""The index engine on small tables whose every number is worked out by hand, plus the CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from analytics.index import IndexDataError, compute, group_comparison, load_spec, parse_spec, rank_uncertainty
from analytics.index.tiers import natural_breaks
from jobs.index_cli import index

ROOT = Path(__file__).resolve().parents[2]


def spec_of(
    normalisation: str = "ratio_to_max",
    direction: str = "higher_is_better",
    missing: str = "exclude",
    aggregation: str = "weighted_arithmetic",
    **top,
):
    """total = 0.6 * base(a, b at 0.5 each) + 0.4 * c."""

    def ind(i: str, **kw) -> dict:
        return {
            "id": i,
            "name_zh": i,
            "name_en": i,
            "direction": direction,
            "normalisation": normalisation,
            "missing": missing,
            "source": "external",
            **kw,
        }

    data = {
        "id": "toy",
        "name_zh": "玩具",
        "name_en": "Toy",
        "source": "test",
        "unit": "unit",
        "scale": 100,
        "weight_tolerance": 1.0e-6,
        "root": "total",
        "ranking": {"ties": "competition", "decimals": 2},
        "audit": {"weight_tolerance": 0.02},
        "indicators": [ind("a"), ind("b"), ind("c")],
        "nodes": [
            {
                "id": "total",
                "name_zh": "总",
                "name_en": "T",
                "aggregation": aggregation,
                "children": [{"ref": "base", "weight": 0.6}, {"ref": "c", "weight": 0.4}],
            },
            {
                "id": "base",
                "name_zh": "基",
                "name_en": "B",
                "aggregation": aggregation,
                "children": [{"ref": "a", "weight": 0.5}, {"ref": "b", "weight": 0.5}],
            },
        ],
    }
    data.update(top)
    return parse_spec(data)


def long(rows: dict[str, dict[str, float]], period: str | None = None) -> pd.DataFrame:
    out = pd.DataFrame([{"unit": u, "indicator": i, "value": v} for u, vals in rows.items() for i, v in vals.items()])
    if period is not None:
        out.insert(0, "period", period)
    return out


TABLE = {"u1": {"a": 10, "b": 4, "c": 2}, "u2": {"a": 5, "b": 8, "c": 1}, "u3": {"a": 0, "b": 2, "c": 4}}


def by_unit(result, column: str) -> dict:
    return {
        u: (None if pd.isna(v) else round(float(v), 10)) for u, v in zip(result.scores["unit"], result.scores[column])
    }


# --- normalisation -------------------------------------------------------------------------------


def test_ratio_to_max_is_seed_000_formula():
    r = compute(spec_of(), long(TABLE))
    assert by_unit(r, "indicator.a") == {"u1": 100.0, "u2": 50.0, "u3": 0.0}
    assert by_unit(r, "indicator.b") == {"u1": 50.0, "u2": 100.0, "u3": 25.0}
    assert by_unit(r, "indicator.c") == {"u1": 50.0, "u2": 25.0, "u3": 100.0}
    # base = (a + b) / 2; total = 0.6 base + 0.4 c
    assert by_unit(r, "node.base") == {"u1": 75.0, "u2": 75.0, "u3": 12.5}
    assert by_unit(r, "total") == {"u1": 65.0, "u2": 55.0, "u3": 47.5}
    assert r.scores["unit"].tolist() == ["u1", "u2", "u3"]
    assert r.scores["rank"].tolist() == [1, 2, 3]
    assert r.scores["rank.base"].tolist() == [1, 1, 3]
    assert r.scores["tied"].tolist() == [False, False, False]
    assert r.scores["coverage"].tolist() == [1.0, 1.0, 1.0]
    assert list(r.scores.columns) == [
        "unit",
        "total",
        "rank",
        "tied",
        "tier",
        "coverage",
        "node.base",
        "rank.base",
        "indicator.a",
        "indicator.b",
        "indicator.c",
    ]


def test_ratio_to_max_lower_is_better_is_best_over_value():
    r = compute(spec_of(direction="lower_is_better"), long(TABLE))
    assert by_unit(r, "indicator.a") == {"u1": 0.0, "u2": 0.0, "u3": 100.0}  # min is 0: only a 0 scores
    assert by_unit(r, "indicator.b") == {"u1": 50.0, "u2": 25.0, "u3": 100.0}
    assert by_unit(r, "indicator.c") == {"u1": 50.0, "u2": 100.0, "u3": 25.0}


def test_ratio_to_max_all_zero_and_negative_values():
    r = compute(spec_of(), long({"u1": {"a": 0, "b": 1, "c": 1}, "u2": {"a": 0, "b": 2, "c": 1}}))
    assert by_unit(r, "indicator.a") == {"u1": 0.0, "u2": 0.0}
    with pytest.raises(IndexDataError) as exc:
        compute(spec_of(), long({"u1": {"a": -1, "b": 1, "c": 1}, "u2": {"a": 3, "b": 2, "c": 1}}))
    assert str(exc.value) == "indicator 'a': ratio_to_max needs values >= 0, got u1 / -1.0"


def test_min_max_both_directions_and_constant():
    r = compute(spec_of("min_max"), long(TABLE))
    assert by_unit(r, "indicator.a") == {"u1": 100.0, "u2": 50.0, "u3": 0.0}
    assert by_unit(r, "indicator.b") == {"u1": round(100 * 2 / 6, 10), "u2": 100.0, "u3": 0.0}
    r = compute(spec_of("min_max", "lower_is_better"), long(TABLE))
    assert by_unit(r, "indicator.c") == {"u1": round(100 * 2 / 3, 10), "u2": 100.0, "u3": 0.0}
    r = compute(spec_of("min_max"), long({"u1": {"a": 7, "b": 1, "c": 1}, "u2": {"a": 7, "b": 2, "c": 2}}))
    assert by_unit(r, "indicator.a") == {"u1": 100.0, "u2": 100.0}


def test_z_score_and_rank():
    r = compute(spec_of("z_score"), long(TABLE))
    a = np.array([10, 5, 0.0])
    assert by_unit(r, "indicator.a") == dict(zip(["u1", "u2", "u3"], np.round((a - a.mean()) / a.std(), 10)))
    r = compute(spec_of("z_score", "lower_is_better"), long(TABLE))
    assert by_unit(r, "indicator.a") == dict(zip(["u1", "u2", "u3"], np.round(-(a - a.mean()) / a.std(), 10)))
    r = compute(
        spec_of("rank"),
        long({"u1": {"a": 3, "b": 1, "c": 1}, "u2": {"a": 3, "b": 2, "c": 1}, "u3": {"a": 1, "b": 3, "c": 1}}),
    )
    assert by_unit(r, "indicator.a") == {"u1": 75.0, "u2": 75.0, "u3": 0.0}  # average ranks 2.5, 2.5, 1 of 3
    assert by_unit(r, "indicator.c") == {"u1": 50.0, "u2": 50.0, "u3": 50.0}
    r = compute(
        spec_of("rank", "lower_is_better"), long({"u1": {"a": 3, "b": 1, "c": 1}, "u2": {"a": 2, "b": 2, "c": 1}})
    )
    assert by_unit(r, "indicator.a") == {"u1": 0.0, "u2": 100.0}


def test_base_period_is_100_in_the_base_year():
    spec = parse_spec(
        {
            **spec_of().model_dump(exclude_none=True),
            "indicators": [
                {
                    "id": i,
                    "name_zh": i,
                    "name_en": i,
                    "direction": d,
                    "normalisation": "base_period",
                    "base_period": "2020",
                    "missing": "exclude",
                    "source": "external",
                }
                for i, d in (("a", "higher_is_better"), ("b", "higher_is_better"), ("c", "lower_is_better"))
            ],
        }
    )
    table = pd.concat(
        [long({"cn": {"a": 4, "b": 10, "c": 2}}, "2020"), long({"cn": {"a": 5, "b": 15, "c": 4}}, "2021")]
    )
    r = compute(spec, table)
    assert r.scores["period"].tolist() == ["2020", "2021"]
    assert r.scores["indicator.a"].tolist() == [100.0, 125.0]
    assert r.scores["indicator.b"].tolist() == [100.0, 150.0]
    assert r.scores["indicator.c"].tolist() == [100.0, 50.0]
    assert r.scores["total"].round(10).tolist() == [100.0, round(0.6 * 137.5 + 0.4 * 50, 10)]
    with pytest.raises(IndexDataError) as exc:
        compute(spec, long({"cn": {"a": 4, "b": 10, "c": 2}}))
    assert (
        str(exc.value) == "indicator 'a' is normalised to base period 2020 but the indicator table has no period column"
    )
    with pytest.raises(IndexDataError) as exc:
        compute(spec, long({"cn": {"a": 4, "b": 10, "c": 2}}, "2021"))
    assert str(exc.value) == "indicator 'a': base period 2020 is not in the indicator table (periods: 2021)"
    zero = pd.concat([long({"cn": {"a": 0, "b": 10, "c": 2}}, "2020"), long({"cn": {"a": 5, "b": 15, "c": 4}}, "2021")])
    with pytest.raises(IndexDataError) as exc:
        compute(spec, zero)
    assert str(exc.value) == "indicator 'a': base period 2020 value must be > 0, got 2020 / cn / 0.0; 2021 / cn / 0.0"


# --- aggregation and missing values ---------------------------------------------------------------


def test_exclude_renormalises_weights_over_children_present():
    table = long({"u1": {"a": 10, "b": 4, "c": 2}, "u2": {"a": 5, "c": 1}, "u3": {"c": 4}})
    r = compute(spec_of(), table)
    # b: only u1 has it (4 -> 100); u2's base is a alone; u3's total is c alone
    assert by_unit(r, "node.base") == {"u1": 100.0, "u2": 50.0, "u3": None}
    assert by_unit(r, "total") == {"u1": 80.0, "u2": 40.0, "u3": 100.0}
    assert by_unit(r, "coverage") == {"u1": 1.0, "u2": 0.7, "u3": 0.4}
    assert r.report.missing_values == {"a": 1, "b": 2, "c": 0}
    assert r.report.imputed == {"a": 0, "b": 0, "c": 0}


def test_zero_and_mean_policies_impute_raw_values():
    table = long({"u1": {"a": 10, "b": 4, "c": 2}, "u2": {"a": 5, "c": 1}, "u3": {"a": 0, "b": 8, "c": 4}})
    r = compute(spec_of(missing="zero"), table)
    assert by_unit(r, "indicator.b") == {"u1": 50.0, "u2": 0.0, "u3": 100.0}
    r = compute(spec_of(missing="mean"), table)
    assert by_unit(r, "indicator.b") == {"u1": 50.0, "u2": 75.0, "u3": 100.0}  # mean of 4 and 8 is 6
    assert r.report.imputed == {"a": 0, "b": 1, "c": 0}
    assert r.report.messages() == ["indicator b: 1 missing value(s), 1 imputed"]


def test_error_policy_and_nan_values():
    table = long({"u1": {"a": 10, "b": np.nan, "c": 2}, "u2": {"a": 5, "b": 3, "c": 1}})
    with pytest.raises(IndexDataError) as exc:
        compute(spec_of(missing="error"), table)
    assert str(exc.value) == "indicator 'b' (missing: error) has no value for: u1"
    r = compute(spec_of(), table)
    assert by_unit(r, "node.base") == {"u1": 100.0, "u2": 75.0}
    assert r.report.missing_values == {"a": 0, "b": 1, "c": 0}


def test_weighted_geometric_mean():
    r = compute(
        spec_of(aggregation="weighted_geometric"),
        long({"u1": {"a": 4, "b": 1, "c": 1}, "u2": {"a": 1, "b": 4, "c": 4}}),
    )
    # base: sqrt(100 * 25) = 50 for both; total = 50^0.6 * c^0.4
    assert by_unit(r, "node.base") == {"u1": 50.0, "u2": 50.0}
    assert by_unit(r, "total") == {"u1": round(50**0.6 * 25**0.4, 10), "u2": round(50**0.6 * 100**0.4, 10)}
    r = compute(
        spec_of(aggregation="weighted_geometric"),
        long({"u1": {"a": 0, "b": 1, "c": 1}, "u2": {"a": 1, "b": 4, "c": 4}}),
    )
    assert by_unit(r, "node.base") == {"u1": 0.0, "u2": 100.0}  # a zero child zeroes a geometric mean


# --- ranks and tiers --------------------------------------------------------------------------------


def test_competition_ranking_1224_with_tied_flags():
    table = long({u: {"a": v, "b": v, "c": v} for u, v in (("w", 4), ("x", 8), ("y", 8), ("z", 2))})
    r = compute(spec_of(), table)
    assert r.scores["unit"].tolist() == ["x", "y", "w", "z"]
    assert r.scores["rank"].tolist() == [1, 1, 3, 4]
    assert r.scores["tied"].tolist() == [True, True, False, False]


def test_ordinal_ranking_breaks_ties_in_unit_order_and_decimals_decide_ties():
    spec = spec_of(ranking={"ties": "ordinal", "decimals": 2})
    table = long({u: {"a": v, "b": v, "c": v} for u, v in (("w", 4), ("x", 8), ("y", 8), ("z", 2))})
    r = compute(spec, table, units=["z", "y", "x", "w"])
    assert r.scores["unit"].tolist() == ["y", "x", "w", "z"]
    assert r.scores["rank"].tolist() == [1, 2, 3, 4]
    assert r.scores["tied"].tolist() == [True, True, False, False]
    # 100000 vs 100001 differ by 0.001 points on a 100 scale: equal at 2 decimals, not at 3.
    near = long({"p": {"a": 100000, "b": 1, "c": 1}, "q": {"a": 100001, "b": 1, "c": 1}})
    assert compute(spec_of(), near).scores["rank"].tolist() == [1, 1]
    assert compute(spec_of(ranking={"ties": "competition", "decimals": 4}), near).scores["rank"].tolist() == [1, 2]


def test_threshold_tiers_put_a_boundary_score_in_the_higher_tier():
    spec = spec_of(tiers={"method": "thresholds", "thresholds": [70, 60, 55], "labels": ["一", "二", "三", "四"]})
    scores = {"p": 100, "q": 70, "r": 69.99, "s": 60, "t": 55, "u": 54.99}
    r = compute(spec, long({k: {"a": v, "b": v, "c": v} for k, v in scores.items()}))
    assert dict(zip(r.scores["unit"], r.scores["tier"])) == {
        "p": "一",
        "q": "一",
        "r": "二",
        "s": "二",
        "t": "三",
        "u": "四",
    }


def test_natural_break_tiers():
    values = [1, 2, 3, 10, 11, 12, 30, 31, 50]
    assert natural_breaks(np.array(values, dtype=float), 4) == [1.0, 3.0, 12.0, 31.0, 50.0]
    spec = spec_of(tiers={"method": "natural_breaks", "k": 4, "labels": ["一", "二", "三", "四"]})
    r = compute(spec, long({f"u{v}": {"a": v, "b": v, "c": v} for v in values}))
    # ratio to max of equal indicators: totals are 2 * v, the same classes
    assert dict(zip(r.scores["unit"], r.scores["tier"])) == {
        "u50": "一",
        "u31": "二",
        "u30": "二",
        "u12": "三",
        "u11": "三",
        "u10": "三",
        "u3": "四",
        "u2": "四",
        "u1": "四",
    }
    with pytest.raises(IndexDataError) as exc:
        compute(spec, long({f"u{v}": {"a": v, "b": v, "c": v} for v in (1, 1, 2, 3)}))
    assert str(exc.value) == "natural breaks into k=4 tiers need at least 4 distinct totals, got 3"


# --- the input table ----------------------------------------------------------------------------------


def test_unused_indicators_are_ignored_and_reported():
    table = pd.concat([long(TABLE), long({"u1": {"zz": 1, "yy": 2}})])
    r = compute(spec_of(), table)
    assert r.report.unused_indicators == ("yy", "zz")
    assert r.report.messages() == ["ignored 2 indicator(s) the spec does not use: yy, zz"]
    assert by_unit(r, "total") == {"u1": 65.0, "u2": 55.0, "u3": 47.5}


def test_absent_indicator_is_an_error_unless_excluded():
    table = long({"u1": {"a": 1, "b": 2}, "u2": {"a": 2, "b": 2}})
    with pytest.raises(IndexDataError) as exc:
        compute(spec_of(missing="zero"), table)
    assert str(exc.value) == (
        "indicator(s) ['c'] needed by spec 'toy' are not in the indicator table "
        "(only an indicator with missing: exclude may be absent)"
    )
    r = compute(spec_of(), table)
    assert r.report.absent_indicators == ("c",)
    assert by_unit(r, "total") == {"u1": 75.0, "u2": 100.0}
    assert by_unit(r, "coverage") == {"u1": 0.6, "u2": 0.6}


def test_bad_tables():
    with pytest.raises(IndexDataError) as exc:
        compute(spec_of(), pd.DataFrame({"unit": ["u"], "indicator": ["a"]}))
    assert str(exc.value) == "indicator table lacks column(s) ['value'] (needs unit, indicator, value; optional period)"
    with pytest.raises(IndexDataError) as exc:
        compute(spec_of(), pd.DataFrame({"unit": ["u", "v"], "indicator": ["a", "a"], "value": ["1.5", "many"]}))
    assert str(exc.value) == "indicator table: 1 value(s) are not numbers: v / a / many"
    with pytest.raises(IndexDataError) as exc:
        compute(spec_of(), pd.DataFrame({"unit": ["u", "u"], "indicator": ["a", "a"], "value": [1, 2]}))
    assert str(exc.value) == "indicator table: 2 rows share a (period, unit, indicator): u / a; u / a"
    with pytest.raises(IndexDataError) as exc:
        compute(spec_of(), pd.DataFrame({"unit": ["u", None], "indicator": ["a", "a"], "value": [1, 2]}))
    assert str(exc.value) == "indicator table: 1 row(s) without a unit"
    with pytest.raises(IndexDataError) as exc:
        compute(spec_of(), pd.DataFrame({"unit": ["u"], "indicator": ["a"], "value": [np.inf]}))
    assert str(exc.value) == "indicator table: 1 value(s) are infinite: u / a / inf"


def test_units_without_any_indicator_get_no_total():
    r = compute(spec_of(), long(TABLE), units=["u0", "u1"])
    assert r.scores["unit"].tolist() == ["u1", "u2", "u3", "u0"]
    assert r.scores["rank"].tolist()[:3] == [1, 2, 3] and pd.isna(r.scores["rank"].iloc[3])
    assert r.report.units_without_total == ("u0",)


def test_periods_are_ranked_separately():
    table = pd.concat(
        [long(TABLE, "2020"), long({"u1": {"a": 1, "b": 1, "c": 1}, "u2": {"a": 2, "b": 2, "c": 2}}, "2021")]
    )
    r = compute(spec_of(), table)
    assert r.scores[["period", "unit", "rank"]].values.tolist() == [
        ["2020", "u1", 1],
        ["2020", "u2", 2],
        ["2020", "u3", 3],
        ["2021", "u2", 1],
        ["2021", "u1", 2],
        ["2021", "u3", pd.NA],
    ]


# --- group comparison and uncertainty ------------------------------------------------------------------


def test_group_comparison_is_mean_rank_per_group():
    r = compute(spec_of(), long(TABLE))
    g = group_comparison(r, {"u3": "south", "u1": "north", "u2": "north"})
    assert g.to_dict("records") == [
        {"group": "south", "units": 1, "members": "u3", "mean_rank.base": 3.0, "mean_rank.total": 3.0},
        {"group": "north", "units": 2, "members": "u1、u2", "mean_rank.base": 1.0, "mean_rank.total": 1.5},
    ]
    with pytest.raises(IndexDataError) as exc:
        group_comparison(r, {"u9": "x"})
    assert str(exc.value) == "grouping names unit(s) not in the scores: u9"


def test_uncertainty_is_seeded_and_dominance_is_certain():
    spec = spec_of(
        uncertainty={
            "weights": {"method": "dirichlet", "concentration": 5},
            "normalisations": ["spec", "min_max", "rank"],
            "draws": 200,
            "seed": 7,
            "percentiles": [5, 95],
        }
    )
    table = long(
        {
            "top": {"a": 9, "b": 9, "c": 9},
            "m1": {"a": 5, "b": 1, "c": 3},
            "m2": {"a": 1, "b": 5, "c": 3},
            "low": {"a": 0, "b": 0, "c": 0},
        }
    )
    r = compute(spec, table)
    first, again = rank_uncertainty(r), rank_uncertainty(r)
    pd.testing.assert_frame_equal(first, again)
    assert list(first.columns) == ["unit", "total", "rank", "median_rank", "rank_p5", "rank_p95"]
    row = first.set_index("unit")
    assert row.loc["top", ["median_rank", "rank_p5", "rank_p95"]].tolist() == [1.0, 1.0, 1.0]
    assert row.loc["low", ["median_rank", "rank_p5", "rank_p95"]].tolist() == [4.0, 4.0, 4.0]
    # m1 and m2 mirror each other: each is second in some draws, third in others
    assert row.loc["m1", "rank_p5"] == 2.0 and row.loc["m1", "rank_p95"] == 3.0
    assert not rank_uncertainty(r, seed=8)["median_rank"].isna().any()
    with pytest.raises(ValueError) as exc:
        rank_uncertainty(compute(spec_of(), table))
    assert str(exc.value) == "spec 'toy' has no uncertainty section"


def test_uniform_weight_perturbation_keeps_a_one_indicator_ranking():
    spec = spec_of(
        uncertainty={
            "weights": {"method": "uniform", "spread": 0.5},
            "normalisations": ["spec"],
            "draws": 50,
            "seed": 1,
            "percentiles": [10, 90],
        }
    )
    table = long({f"u{k}": {"a": k, "b": k, "c": k} for k in range(1, 6)})
    out = rank_uncertainty(compute(spec, table))
    assert out["median_rank"].tolist() == out["rank"].astype(float).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert list(out.columns[-2:]) == ["rank_p10", "rank_p90"]


def test_uncertainty_1000_draws_31_provinces_runs_in_seconds():
    spec = load_spec(ROOT / "conf" / "indices" / "regional.yaml")
    rng = np.random.default_rng(0)
    units = [f"p{k:02d}" for k in range(31)]
    table = pd.DataFrame(
        [{"unit": u, "indicator": i, "value": float(rng.uniform(1, 100))} for u in units for i in spec.indicator_ids()]
    )
    result = compute(spec, table)
    start = time.perf_counter()
    out = rank_uncertainty(result, draws=1000)
    elapsed = time.perf_counter() - start
    assert len(out) == 31 and out["median_rank"].between(1, 31).all()
    assert elapsed < 2.0, elapsed


# --- the CLI ---------------------------------------------------------------------------------------------


def _write_toy(tmp_path: Path) -> tuple[Path, Path]:
    spec = tmp_path / "toy.yaml"
    spec.write_text(
        (ROOT / "conf" / "indices" / "regional.yaml")
        .read_text(encoding="utf-8")
        .replace("ties: ordinal", "ties: competition"),
        encoding="utf-8",
    )
    rows = [
        ("北京", "platforms", 8),
        ("北京", "policies", 5),
        ("上海", "platforms", 3),
        ("上海", "policies", 4),
        ("新疆", "policies", 0),
        ("新疆", "note", 1),
    ]
    csv = tmp_path / "ind.csv"
    pd.DataFrame(rows, columns=["unit", "indicator", "value"]).to_csv(csv, index=False)
    return spec, csv


def test_cli_compute_writes_scores_groups_and_uncertainty(tmp_path):
    spec, csv = _write_toy(tmp_path)
    groups = tmp_path / "groups.csv"
    pd.DataFrame({"unit": ["北京", "上海", "新疆"], "group": ["east", "east", "west"]}).to_csv(groups, index=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        index,
        [
            "compute",
            "--spec",
            str(spec),
            "--indicators",
            str(csv),
            "--output",
            str(out),
            "--groups",
            str(groups),
            "--draws",
            "100",
            "--seed",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    scores = pd.read_csv(out / "scores.csv")
    assert scores[["unit", "total", "rank"]].values.tolist() == [
        ["北京", 100.0, 1],
        ["上海", 58.75, 2],
        ["新疆", 0.0, 3],
    ]
    assert scores["indicator.platforms"].tolist() == [100.0, 37.5, 0.0]
    assert pd.read_csv(out / "groups.csv")[["group", "units", "mean_rank.total"]].values.tolist() == [
        ["east", 2, 1.5],
        ["west", 1, 3.0],
    ]
    assert pd.read_csv(out / "uncertainty.csv")["unit"].tolist() == ["北京", "上海", "新疆"]
    assert "ignored 1 indicator(s) the spec does not use: note" in res.output
    assert "wrote scores.csv, groups.csv, uncertainty.csv to" in res.output


def test_cli_compute_errors(tmp_path):
    spec, csv = _write_toy(tmp_path)
    runner = CliRunner()
    res = runner.invoke(
        index,
        ["compute", "--spec", str(spec), "--indicators", str(csv), "--output", str(tmp_path / "o"), "--seed", "3"],
    )
    assert res.exit_code == 2 and "Invalid value for --seed: needs --draws" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec.read_text(encoding="utf-8").replace("weight: 0.40}", "weight: 0.50}"), encoding="utf-8")
    res = runner.invoke(
        index, ["compute", "--spec", str(bad), "--indicators", str(csv), "--output", str(tmp_path / "o")]
    )
    assert res.exit_code == 1
    assert (
        res.output
        == f"Error: invalid index spec:\n{bad}: node 'total': child weights sum to 1.1, not 1 (tolerance 1e-06)\n"
    )
    nan_csv = tmp_path / "nan.csv"
    nan_csv.write_text("unit,indicator,value\n北京,platforms,eight\n", encoding="utf-8")
    res = runner.invoke(
        index, ["compute", "--spec", str(spec), "--indicators", str(nan_csv), "--output", str(tmp_path / "o")]
    )
    assert res.exit_code == 1
    assert res.output == f"Error: {nan_csv}: indicator table: 1 value(s) are not numbers: 北京 / platforms / eight\n"


def test_cli_audit_prints_and_writes(tmp_path):
    out = tmp_path / "audit"
    res = CliRunner().invoke(
        index,
        [
            "audit",
            "--spec",
            str(ROOT / "conf/indices/regional.yaml"),
            "--published",
            str(ROOT / "conf/indices/published/seed000_regional.csv"),
            "--output",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    weights = pd.read_csv(out / "audit_weights.csv")
    assert weights["component"].tolist() == ["development_base", "application_scope", "economic_benefit"]
    assert weights["disagrees"].tolist() == [True, True, True]
    assert len(pd.read_csv(out / "audit_residuals.csv")) == 30
    assert "left out 1 unit(s) with a missing value: 新疆" in res.output
    assert "disagree by more than 0.02: development_base, application_scope, economic_benefit" in res.output


def test_cli_does_not_import_pyspark():
    code = "import sys, jobs.index_cli, analytics.index; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
