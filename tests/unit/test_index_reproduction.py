"""Seed 000's published regional tables reproduced by the engine.

表3-4 (发展基础) from the platform registry (表3-3, conf/reference/platforms.csv) and the policy
counts of conf/indicators/policies_by_province.csv; 表3-7 (economic zones) from the ranks of
表3-1/3-4/3-5/3-6. The policy counts are back-solved from 表3-4 (the seed does not publish them;
see conf/indicators/README.md), so the 表3-4 match tests the registry's platform counts, the 0.15 /
0.15 weights and the ratio-to-max method; test_policy_counts_are_derived_mechanically re-derives
the file so that no number in it is typed by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.index import compare_groups, compute, load_spec, round_half_up
from analytics.index.ranking import rank_units

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
NODES = ("development_base", "application_scope", "economic_benefit")


@pytest.fixture(scope="module")
def spec():
    return load_spec(CONF / "indices" / "regional.yaml")


@pytest.fixture(scope="module")
def provinces() -> list[str]:
    """Province names in administrative-division-code order (the order of the seed's tie-breaks)."""
    return pd.read_csv(CONF / "reference" / "provinces.csv", dtype=str)["name_zh"].tolist()


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    return pd.read_csv(CONF / "indices" / "published" / "seed000_regional.csv")


def platform_counts() -> pd.DataFrame:
    registry = pd.read_csv(CONF / "reference" / "platforms.csv", dtype=str)
    counts = (
        registry.groupby("province_name").size().rename("value").reset_index().rename(columns={"province_name": "unit"})
    )
    return counts.assign(indicator="platforms", period="2020")[["unit", "indicator", "period", "value"]]


def policies(name: str) -> pd.DataFrame:
    return pd.read_csv(CONF / "indicators" / name, dtype={"period": str})


def development_base(spec, provinces, policy_file: str) -> pd.DataFrame:
    table = pd.concat(
        [platform_counts(), policies(policy_file)[["unit", "indicator", "period", "value"]]], ignore_index=True
    )
    return compute(spec, table, units=provinces).scores.set_index("unit")


def test_registry_counts_are_table_3_3(provinces):
    counts = platform_counts().set_index("unit")["value"]
    assert counts.sum() == 34
    assert counts.sort_values(ascending=False, kind="stable").head(3).to_dict() == {
        "北京": 8,
        "广东": 5,
        "江苏": 4,
    }  # §三(一)2
    assert counts.to_dict() == {
        "上海": 3,
        "北京": 8,
        "天津": 1,
        "山东": 2,
        "广东": 5,
        "江苏": 4,
        "河北": 2,
        "河南": 1,
        "浙江": 2,
        "湖南": 1,
        "甘肃": 1,
        "福建": 1,
        "辽宁": 1,
        "重庆": 1,
        "陕西": 1,
    }
    assert set(counts.index) <= set(provinces)


def test_table_3_4_reproduced_to_two_decimals(spec, provinces, published):
    scores = development_base(spec, provinces, "policies_by_province.csv")
    table_3_4 = published.set_index("unit")["development_base"]
    printed = table_3_4.dropna()
    assert len(printed) == 30
    ours = scores.loc[printed.index, "node.development_base"].round(2)
    assert (ours == printed).all(), pd.concat([ours, printed], axis=1)[ours != printed]
    # 新疆 is printed "-": no platform, no policy, base 0.
    assert scores.loc["新疆", "node.development_base"] == 0.0
    # Ranks (ordinal ties in division-code order) are 表3-4's 序号, 新疆 last.
    assert (
        scores.loc[provinces, "rank.development_base"].tolist()
        == published.set_index("unit").loc[provinces, "rank_development_base"].tolist()
    )
    assert scores.loc[["湖南", "重庆"], "tied"].tolist() == [True, True]
    result_report = compute(
        spec,
        pd.concat([platform_counts(), policies("policies_by_province.csv")[["unit", "indicator", "period", "value"]]]),
        units=provinces,
    ).report
    assert result_report.absent_indicators == (
        "connected_enterprises",
        "effective_access_ratio",
        "iiot_value_added_gdp_share",
        "employment_driven",
    )
    assert result_report.imputed == {
        "platforms": 16,
        "policies": 0,
        "connected_enterprises": 0,
        "effective_access_ratio": 0,
        "iiot_value_added_gdp_share": 0,
        "employment_driven": 0,
    }


def test_policy_counts_are_derived_mechanically(published):
    """q / q_max = (base - 50 p / p_max) / 50 lands on the 1/5 grid for all 30 printed provinces."""
    counts = platform_counts().set_index("unit")["value"]
    base = published.set_index("unit")["development_base"].dropna()
    p = counts.reindex(base.index).fillna(0)
    share = (base / 100 - 0.5 * p / counts.max()) / 0.5
    fifths = share * 5
    assert np.abs(fifths - fifths.round()).max() < 1e-9
    assert fifths.round().min() == 1 and fifths.round().max() == 5
    shipped = policies("policies_by_province.csv").set_index("unit")["value"]
    assert (shipped.loc[base.index] == fifths.round().astype(int)).all()
    assert shipped.loc["新疆"] == 0
    assert len(shipped) == 31
    assert shipped.value_counts().sort_index().to_dict() == {0: 1, 1: 2, 2: 10, 3: 8, 4: 6, 5: 4}


def test_table_3_2_policy_list_does_not_reproduce_table_3_4(spec, provinces, published):
    """表3-2 lists only some policies of 10 provinces: with them, none of the 10 matches 表3-4."""
    scores = development_base(spec, provinces, "policies_table_3_2.csv")
    printed = published.set_index("unit")["development_base"].dropna()
    listed = policies("policies_table_3_2.csv")["unit"].tolist()
    ours = scores.loc[listed, "node.development_base"].round(2)
    assert ours.to_dict() == {
        "北京": 66.67,
        "河北": 45.83,
        "上海": 68.75,
        "江苏": 58.33,
        "浙江": 45.83,
        "福建": 39.58,
        "湖南": 22.92,
        "广东": 64.58,
        "重庆": 39.58,
        "黑龙江": 16.67,
    }
    assert (ours == printed.loc[listed]).sum() == 0


def test_table_3_7_ranks_and_zone_means(published, provinces):
    """Ranks of 表3-1/3-4/3-5/3-6 from their printed scores, then 表3-7's zone means (rounded half up)."""
    table = published.set_index("unit").loc[provinces].reset_index()
    ranking = load_spec(CONF / "indices" / "regional.yaml").ranking
    for col in ("total", *NODES):
        ours, _ = rank_units(table[col].fillna(0.0), ranking)
        assert ours.tolist() == table[f"rank_{col}"].tolist(), col
    t37 = pd.read_csv(CONF / "indices" / "published" / "seed000_table_3_7.csv")
    member_ranks = table.set_index("unit").loc[t37["unit"], [f"rank_{c}" for c in ("total", *NODES)]]
    assert (member_ranks.to_numpy() == t37[[f"rank_{c}" for c in ("total", *NODES)]].to_numpy()).all()
    columns = {c: f"rank_{c}" for c in (*NODES, "total")}
    zones = compare_groups(table, t37[["unit", "zone"]].rename(columns={"zone": "group"}), columns)
    assert zones["group"].tolist() == ["京津冀", "长三角", "粤港澳", "成渝", "东北老工业基地"]
    assert zones["units"].tolist() == [3, 4, 1, 2, 4]
    printed = t37.drop_duplicates("zone").set_index("zone")
    for c in (*NODES, "total"):
        assert (
            round_half_up(zones[f"mean_rank.{c}"]).tolist()
            == printed.loc[zones["group"], f"mean_rank_{c}"].astype(float).tolist()
        ), c
    # The unrounded means show where the printed whole numbers round halves up.
    assert zones["mean_rank.economic_benefit"].tolist() == [40 / 3, 5.5, 1.0, 11.5, 22.0]


def test_table_3_1_total_is_the_mean_of_the_three_sub_indices(published):
    """Not 0.3/0.4/0.3 (附件1 表1): printed totals are (base + scope + benefit) / 3 to rounding."""
    t = published.fillna({"development_base": 0.0})
    equal = (t["development_base"] + t["application_scope"] + t["economic_benefit"]) / 3
    stated = 0.3 * t["development_base"] + 0.4 * t["application_scope"] + 0.3 * t["economic_benefit"]
    assert (equal - t["total"]).abs().max() < 0.01
    # 28 of 31 to the cent; 河南, 湖北, 湖南 are 0.01 off, as when the publisher averaged unrounded sub-indices.
    assert t.loc[equal.round(2) != t["total"], "unit"].tolist() == ["河南", "湖北", "湖南"]
    assert round((stated - t["total"]).abs().max(), 2) == 2.88
