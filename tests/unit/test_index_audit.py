"""Weight recovery from published tables: synthetic tables with known weights, then the seeds' own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.index import IndexDataError, audit, compute, load_spec, parse_spec, recover_weights

ROOT = Path(__file__).resolve().parents[2]
INDICES = ROOT / "conf" / "indices"


def synthetic(weights: list[float], units: int = 25, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 100, size=(units, len(weights)))
    return x, x @ np.array(weights)


@pytest.mark.parametrize(
    "weights",
    [[0.2, 0.5, 0.3], [0.6, 0.4, 0.0], [0.15, 0.2, 0.25, 0.15, 0.25], [1.0, 0.0, 0.0]],
)
def test_known_weights_are_recovered_to_1e_6(weights):
    x, y = synthetic(weights)
    w = recover_weights(x, y)
    assert np.abs(w - weights).max() < 1e-6
    assert (w >= 0).all() and abs(w.sum() - 1) < 1e-12


def test_synthetic_published_table_against_a_spec():
    spec = load_spec(INDICES / "regional.yaml")
    x, y = synthetic([0.25, 0.45, 0.30], units=31)
    table = pd.DataFrame(x, columns=["发展基础", "应用范围", "经济效益"]).assign(
        unit=[f"p{k}" for k in range(31)], total=y
    )
    result = audit(spec, table)
    assert result.node == "total"
    assert result.weights["component"].tolist() == ["development_base", "application_scope", "economic_benefit"]
    assert result.weights["stated_weight"].tolist() == [0.30, 0.40, 0.30]
    assert np.abs(result.weights["recovered_weight"].to_numpy() - [0.25, 0.45, 0.30]).max() < 1e-6
    # 0.05 off for the first two, 1e-6-ish for the third: the tolerance is 0.02
    assert result.disagreements == ["development_base", "application_scope"]
    assert result.rmse < 1e-9 and result.max_abs_residual < 1e-9
    assert result.rmse_stated > 0.5
    assert result.dropped_units == ()
    assert list(result.residuals.columns) == [
        "unit",
        "published",
        "fitted",
        "residual",
        "fitted_stated",
        "residual_stated",
    ]


def test_audit_of_a_sub_node_from_the_engine_output():
    """The engine's own development_base is recovered as 0.5 / 0.5 of its normalised indicators."""
    spec = load_spec(INDICES / "regional.yaml")
    rows = [("a", 8, 5), ("b", 3, 4), ("c", 1, 2), ("d", 0, 3), ("e", 5, 1)]
    table = pd.DataFrame(
        [{"unit": u, "indicator": i, "value": v} for u, p, q in rows for i, v in (("platforms", p), ("policies", q))]
    )
    scores = compute(spec, table).scores
    published = scores.rename(
        columns={
            "indicator.platforms": "platforms",
            "indicator.policies": "policies",
            "node.development_base": "development_base",
        }
    )
    result = audit(spec, published, node="development_base")
    assert np.abs(result.weights["recovered_weight"].to_numpy() - 0.5).max() < 1e-9
    assert result.disagreements == []
    assert result.rmse < 1e-9


def test_seed_000_table_3_1_uses_equal_weights_not_table_1():
    spec = load_spec(INDICES / "regional.yaml")
    published = pd.read_csv(INDICES / "published" / "seed000_regional.csv")
    result = audit(spec, published)
    assert result.dropped_units == ("新疆",)
    assert len(result.residuals) == 30
    assert np.abs(result.weights["recovered_weight"].to_numpy() - 1 / 3).max() < 1e-4
    assert result.disagreements == ["development_base", "application_scope", "economic_benefit"]
    assert result.rmse < 0.005  # a 2-decimal table
    assert result.max_abs_residual < 0.01
    assert round(result.rmse_stated, 2) == 1.58
    filled = audit(spec, published, fill_missing=0.0)  # 新疆's "-" read as 0
    assert filled.dropped_units == () and len(filled.residuals) == 31
    assert filled.rmse < 0.005
    assert round(filled.rmse_stated, 2) == 1.56


def test_seed_001_appendix_weights():
    """36Kr publishes no weights; its TOP20 table fits about 0.15 / 0.20 / 0.25 / 0.15 / 0.25."""
    spec = load_spec(INDICES / "city_36kr.yaml")
    result = audit(spec, pd.read_csv(INDICES / "published" / "seed001_appendix_top20.csv"))
    recovered = result.weights.set_index("component")["recovered_weight"]
    assert recovered.round(2).to_dict() == {
        "environment": 0.15,
        "funding": 0.20,
        "research": 0.25,
        "infrastructure": 0.15,
        "outcomes": 0.25,
    }
    assert result.rmse < 0.03  # a 1-decimal table
    assert result.max_abs_residual < 0.1
    assert result.disagreements == ["environment", "research", "infrastructure", "outcomes"]


def test_bad_published_tables():
    spec = load_spec(INDICES / "regional.yaml")
    table = pd.DataFrame({"unit": ["a", "b"], "development_base": [1, 2], "application_scope": [1, 2], "total": [1, 2]})
    with pytest.raises(IndexDataError) as exc:
        audit(spec, table)
    assert (
        str(exc.value)
        == "published table has no column for component 'economic_benefit' (tried: economic_benefit, 经济效益)"
    )
    table["economic_benefit"] = [1, 2]
    with pytest.raises(IndexDataError) as exc:
        audit(spec, table)
    assert str(exc.value) == "published table: 2 complete row(s) cannot identify 3 weights"
    table = pd.DataFrame(
        {
            "unit": list("abcd"),
            "development_base": ["1", "x", "3", "4"],
            "application_scope": [1, 2, 3, 4],
            "economic_benefit": [1, 2, 3, 4],
            "total": [1, 2, 3, 4],
        }
    )
    with pytest.raises(IndexDataError) as exc:
        audit(spec, table)
    assert str(exc.value) == "published table: column 'development_base' has non-numbers: x"
    with pytest.raises(IndexDataError) as exc:
        audit(spec, table, node="nope")
    assert (
        str(exc.value)
        == "spec 'regional' has no node 'nope' (nodes: total, development_base, application_scope, economic_benefit)"
    )


def test_one_child_node_recovers_weight_one():
    data = load_spec(INDICES / "industry.yaml").model_dump(exclude_none=True)
    spec = parse_spec(data)
    table = pd.DataFrame(
        {"unit": list("abc"), "iiot_value_added": [10.0, 20.0, 30.0], "economic_benefit": [10.0, 20.0, 30.0]}
    )
    result = audit(spec, table, node="economic_benefit")
    assert result.weights["recovered_weight"].tolist() == [1.0]
    assert result.rmse == 0.0
