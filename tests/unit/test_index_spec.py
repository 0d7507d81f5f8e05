"""Index specs: the shipped seed specs and every validation error, with its exact message."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from analytics.index import load_spec, parse_spec
from etl.model import ConfigError

INDICES = Path(__file__).resolve().parents[2] / "conf" / "indices"


def base_dict() -> dict:
    ind = {"direction": "higher_is_better", "normalisation": "ratio_to_max", "missing": "exclude", "source": "external"}
    return {
        "id": "toy",
        "name_zh": "玩具指数",
        "name_en": "Toy index",
        "source": "test",
        "unit": "province",
        "scale": 100,
        "weight_tolerance": 1.0e-6,
        "root": "total",
        "ranking": {"ties": "competition", "decimals": 2},
        "audit": {"weight_tolerance": 0.02},
        "indicators": [
            {"id": "a", "name_zh": "甲", "name_en": "A", **ind},
            {"id": "b", "name_zh": "乙", "name_en": "B", **ind},
            {"id": "c", "name_zh": "丙", "name_en": "C", **ind},
        ],
        "nodes": [
            {
                "id": "total",
                "name_zh": "总",
                "name_en": "Total",
                "aggregation": "weighted_arithmetic",
                "children": [{"ref": "base", "weight": 0.6}, {"ref": "c", "weight": 0.4}],
            },
            {
                "id": "base",
                "name_zh": "基础",
                "name_en": "Base",
                "aggregation": "weighted_arithmetic",
                "children": [{"ref": "a", "weight": 0.5}, {"ref": "b", "weight": 0.5}],
            },
        ],
    }


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def error_of(tmp_path: Path, data: dict) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as exc:
        load_spec(path)
    return str(exc.value).replace(str(path), "SPEC")


# --- the shipped specs ---------------------------------------------------------------------------


def test_regional_spec_is_appendix_1_table_1():
    spec = load_spec(INDICES / "regional.yaml")
    assert spec.first_level() == ["development_base", "application_scope", "economic_benefit"]
    assert spec.weights("total") == {"development_base": 0.30, "application_scope": 0.40, "economic_benefit": 0.30}
    assert {k: round(v, 12) for k, v in spec.global_weights().items()} == {
        "platforms": 0.15,
        "policies": 0.15,
        "connected_enterprises": 0.20,
        "effective_access_ratio": 0.20,
        "iiot_value_added_gdp_share": 0.15,
        "employment_driven": 0.15,
    }
    assert {i.normalisation for i in spec.indicators} == {"ratio_to_max"}
    assert [i.id for i in spec.indicators if i.source == "lakehouse"] == [
        "platforms",
        "connected_enterprises",
        "effective_access_ratio",
        "iiot_value_added_gdp_share",  # from iiap economy (gold/economy_province)
        "employment_driven",
    ]
    assert [spec.label_zh(n) for n in spec.first_level()] == ["发展基础", "应用范围", "经济效益"]
    assert spec.scale == 100 and spec.ranking.ties == "ordinal" and spec.tiers is None


def test_industry_spec_is_appendix_1_table_2():
    spec = load_spec(INDICES / "industry.yaml")
    assert spec.weights("total") == {"industry_application": 0.5, "economic_benefit": 0.5}
    assert spec.global_weights() == {
        "connected_enterprises": 0.25,
        "effective_access_ratio": 0.25,
        "iiot_value_added": 0.5,
    }
    # iiot_value_added comes from iiap economy
    assert [i.source for i in spec.indicators] == ["lakehouse", "lakehouse", "lakehouse"]


def test_industrial_app_spec_is_one_ratio_to_max_indicator():
    spec = load_spec(INDICES / "industrial_app.yaml")
    assert spec.global_weights() == {"specialised_app_usage": 1.0}
    assert spec.indicator_by_id["specialised_app_usage"].normalisation == "ratio_to_max"
    assert spec.indicator_by_id["specialised_app_usage"].source == "lakehouse"


def test_caict_spec_has_5_first_level_and_19_second_level_dimensions():
    spec = load_spec(INDICES / "caict_regional.yaml")
    assert [spec.label_zh(n) for n in spec.first_level()] == [
        "基础能力",
        "技术创新",
        "产业发展",
        "应用推广",
        "发展环境",
    ]
    assert [len(spec.node_by_id[n].children) for n in spec.first_level()] == [5, 3, 4, 3, 4]
    assert len(spec.indicator_ids()) == 19
    assert {i.normalisation for i in spec.indicators} == {"min_max"}
    assert spec.weights("innovation") == {
        "rd_investment": 1 / 3,
        "innovation_output": 1 / 3,
        "innovation_carriers": 1 / 3,
    }
    assert spec.tiers.method == "natural_breaks" and spec.tiers.k == 4
    assert spec.tiers.labels == ("示范引领", "快速崛起", "后发追赶", "孕育起步")
    assert [i.id for i in spec.indicators if i.source == "lakehouse"] == [
        "platform_cultivation",
        "industry_activity",
        "adoption",
        "application_level",
    ]


def test_city_36kr_spec_has_5_first_level_12_second_level_20_third_level():
    spec = load_spec(INDICES / "city_36kr.yaml")
    assert [spec.label_zh(n) for n in spec.first_level()] == [
        "发展环境",
        "资金支持",
        "研发能力",
        "基础支持",
        "发展成效",
    ]
    second = [c for n in spec.first_level() for c in spec.weights(n)]
    assert len(second) == 12 and all(s in spec.node_by_id for s in second)
    assert len(spec.indicator_ids()) == 20
    assert spec.tiers.thresholds == (70, 60, 55)
    assert spec.tiers.labels == ("第一梯队", "第二梯队", "第三梯队", "第四梯队")
    assert [i.id for i in spec.indicators if i.source == "lakehouse"] == ["enterprises"]
    assert abs(sum(spec.global_weights().values()) - 1) < 1e-12


# --- validation errors -----------------------------------------------------------------------------


def test_weights_not_summing_to_one(tmp_path):
    data = base_dict()
    data["nodes"][1]["children"][1]["weight"] = 0.4
    assert error_of(tmp_path, data) == "SPEC: node 'base': child weights sum to 0.9, not 1 (tolerance 1e-06)"


def test_weights_within_tolerance_pass_and_fractions_are_exact(tmp_path):
    data = base_dict()
    data["nodes"][1]["children"] = [{"ref": "a", "weight": 0.3333335}, {"ref": "b", "weight": 0.6666665}]
    assert load_spec(write(tmp_path, data)).weights("base") == {"a": 0.3333335, "b": 0.6666665}
    data["nodes"][1]["children"] = [{"ref": "a", "weight": "1/3"}, {"ref": "b", "weight": "2/3"}]
    assert load_spec(write(tmp_path, data)).weights("base") == {"a": 1 / 3, "b": 2 / 3}
    data["nodes"][1]["children"] = [{"ref": "a", "weight": "1/0"}, {"ref": "b", "weight": "2/3"}]
    assert (
        error_of(tmp_path, data)
        == "SPEC: nodes[base].children[a].weight: weight '1/0' is not a number or a fraction a/b"
    )


def test_unknown_indicator(tmp_path):
    data = base_dict()
    data["nodes"][1]["children"][1]["ref"] = "nope"
    assert error_of(tmp_path, data) == "SPEC: node 'base': unknown indicator or node 'nope'"


def test_duplicate_ids(tmp_path):
    data = base_dict()
    data["indicators"][1]["id"] = "a"
    assert error_of(tmp_path, data) == "SPEC: duplicate id 'a' (indicators[0] and indicators[1])"
    data = base_dict()
    data["nodes"][1]["id"] = "c"
    assert error_of(tmp_path, data) == "SPEC: duplicate id 'c' (indicators[2] and nodes[1])"


def test_child_listed_twice(tmp_path):
    data = base_dict()
    data["nodes"][1]["children"][1]["ref"] = "a"
    assert error_of(tmp_path, data) == "SPEC: node 'base': child 'a' is listed twice"


def test_cycle(tmp_path):
    data = base_dict()
    data["nodes"].append(
        {
            "id": "loop",
            "name_zh": "环",
            "name_en": "Loop",
            "aggregation": "weighted_arithmetic",
            "children": [{"ref": "base", "weight": 1}],
        }
    )
    data["nodes"][1]["children"] = [{"ref": "a", "weight": 0.5}, {"ref": "loop", "weight": 0.5}]
    data["nodes"][0]["children"] = [
        {"ref": "base", "weight": 0.3},
        {"ref": "b", "weight": 0.3},
        {"ref": "c", "weight": 0.4},
    ]
    assert error_of(tmp_path, data) == "SPEC: node 'base': cycle base -> loop -> base"


def test_two_parents_and_unreachable(tmp_path):
    data = base_dict()
    data["nodes"][0]["children"] = [{"ref": "base", "weight": 0.6}, {"ref": "a", "weight": 0.4}]
    assert error_of(tmp_path, data) == "SPEC: 'a' has two parents ('total' and 'base'); an index is a tree"
    data = base_dict()
    data["nodes"][0]["children"] = [{"ref": "base", "weight": 1}]
    assert error_of(tmp_path, data) == "SPEC: declared but not reachable from root 'total': c"


def test_root_must_be_a_node(tmp_path):
    data = base_dict()
    data["root"] = "a"
    assert error_of(tmp_path, data) == "SPEC: root 'a' is not a node (nodes: total, base)"


def test_base_period_needs_a_base_period(tmp_path):
    data = base_dict()
    data["indicators"][0]["normalisation"] = "base_period"
    assert error_of(tmp_path, data) == "SPEC: indicators[a]: normalisation base_period needs a base_period"
    data["indicators"][0]["base_period"] = 2020
    assert load_spec(write(tmp_path, data)).indicator_by_id["a"].base_period == "2020"
    data["indicators"][0]["normalisation"] = "min_max"
    assert error_of(tmp_path, data) == "SPEC: indicators[a]: base_period is only for normalisation base_period"


def test_unknown_keys_and_values(tmp_path):
    data = base_dict()
    data["nodes"][0]["colour"] = "red"
    assert error_of(tmp_path, data) == "SPEC: nodes[total].colour: Extra inputs are not permitted"
    data = base_dict()
    data["indicators"][2]["direction"] = "up"
    assert (
        error_of(tmp_path, data)
        == "SPEC: indicators[c].direction: Input should be 'higher_is_better' or 'lower_is_better'"
    )
    data = base_dict()
    data["indicators"][2]["missing"] = "drop"
    assert (
        error_of(tmp_path, data) == "SPEC: indicators[c].missing: Input should be 'exclude', 'zero', 'mean' or 'error'"
    )
    data = base_dict()
    data["nodes"][1]["children"][0]["weight"] = 0
    assert error_of(tmp_path, data) == "SPEC: nodes[base].children[a].weight: Input should be greater than 0"


def test_geometric_mean_refuses_z_scores(tmp_path):
    data = base_dict()
    data["nodes"][1]["aggregation"] = "weighted_geometric"
    data["indicators"][1]["normalisation"] = "z_score"
    assert error_of(tmp_path, data) == (
        "SPEC: node 'base': weighted_geometric needs non-negative children, but z_score indicator 'b' can be negative"
    )
    data["indicators"][1]["normalisation"] = "rank"
    data["uncertainty"] = {
        "weights": {"method": "uniform", "spread": 0.2},
        "normalisations": ["spec", "z_score"],
        "draws": 10,
        "seed": 1,
        "percentiles": [5, 95],
    }
    assert error_of(tmp_path, data) == (
        "SPEC: node 'base': weighted_geometric needs non-negative children, "
        "but the z_score uncertainty alternative can be negative"
    )


def test_stated_weight_is_checked_against_the_path(tmp_path):
    data = base_dict()
    data["nodes"][1]["children"][0]["stated_weight"] = 0.3
    assert load_spec(write(tmp_path, data)).global_weights()["a"] == 0.3
    data["nodes"][1]["children"][0]["stated_weight"] = 0.15
    assert (
        error_of(tmp_path, data)
        == "SPEC: node 'base': child 'a' has a share of 0.3 of the index, but its stated_weight is 0.15"
    )


def test_tiers_and_uncertainty_sections(tmp_path):
    data = base_dict()
    data["tiers"] = {"method": "thresholds", "thresholds": [55, 60, 70], "labels": ["1", "2", "3", "4"]}
    assert (
        error_of(tmp_path, data)
        == "SPEC: tiers.thresholds: tier thresholds [55.0, 60.0, 70.0] must be strictly descending"
    )
    data["tiers"] = {"method": "thresholds", "thresholds": [70, 60, 55], "labels": ["1", "2", "3"]}
    assert error_of(tmp_path, data) == "SPEC: tiers.thresholds: 3 thresholds need 4 labels, got 3"
    data["tiers"] = {"method": "natural_breaks", "k": 4, "labels": ["1", "2"]}
    assert error_of(tmp_path, data) == "SPEC: tiers.natural_breaks: k=4 natural-break tiers need 4 labels, got 2"
    data = base_dict()
    data["uncertainty"] = {
        "weights": {"method": "dirichlet", "spread": 0.2},
        "normalisations": ["spec"],
        "draws": 10,
        "seed": 1,
        "percentiles": [5, 95],
    }
    assert error_of(tmp_path, data) == "SPEC: uncertainty.weights: weights.method dirichlet needs concentration"
    data["uncertainty"]["weights"] = {"method": "dirichlet", "concentration": 10}
    data["uncertainty"]["percentiles"] = [95, 5]
    assert error_of(tmp_path, data) == "SPEC: uncertainty: percentiles [95.0, 5.0] must satisfy 0 <= low < high <= 100"
    data["uncertainty"]["percentiles"] = [5, 95]
    data["uncertainty"]["normalisations"] = ["spec", "base_period"]
    assert error_of(tmp_path, data).startswith(
        "SPEC: uncertainty.normalisations[1]: Input should be 'spec', 'ratio_to_max', 'min_max', 'z_score' or 'rank'"
    )


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_spec(tmp_path / "missing.yaml")
    assert str(exc.value) == f"{tmp_path / 'missing.yaml'}: file not found"
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_spec(bad)
    assert str(exc.value) == f"{bad}: expected a mapping at the top level"


def test_parse_spec_names_its_source_and_specs_are_frozen():
    data = copy.deepcopy(base_dict())
    del data["root"]
    with pytest.raises(ConfigError) as exc:
        parse_spec(data, "inline")
    assert str(exc.value) == "inline: root: Field required"
    spec = parse_spec(base_dict())
    with pytest.raises(ValidationError):
        spec.scale = 10
