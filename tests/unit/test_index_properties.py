"""Properties of the engine that must hold for any indicator table (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.index import compute, parse_spec
from analytics.index.aggregate import combine

METHODS = ("ratio_to_max", "min_max", "z_score", "rank")
SETTINGS = settings(max_examples=60, deadline=None)
# Indicator values: zero or at least 1e-6. Near the bottom of the float range (5e-324) a
# value cannot be scaled without underflowing to 0, which no indicator table holds.
values = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False))
positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


def spec_of(
    normalisation: str, aggregation: str = "weighted_arithmetic", weights: tuple[float, float, float] = (0.5, 0.3, 0.2)
):
    def ind(i: str) -> dict:
        return {
            "id": i,
            "name_zh": i,
            "name_en": i,
            "direction": "higher_is_better",
            "normalisation": normalisation,
            "missing": "exclude",
            "source": "external",
        }

    return parse_spec(
        {
            "id": "prop",
            "name_zh": "性质",
            "name_en": "Property",
            "source": "test",
            "unit": "unit",
            "scale": 100,
            "weight_tolerance": 1.0e-6,
            "root": "total",
            "ranking": {"ties": "competition"},
            "audit": {"weight_tolerance": 0.02},
            "indicators": [ind("a"), ind("b"), ind("c")],
            "nodes": [
                {
                    "id": "total",
                    "name_zh": "总",
                    "name_en": "T",
                    "aggregation": aggregation,
                    "children": [{"ref": r, "weight": w} for r, w in zip("abc", weights)],
                }
            ],
        }
    )


def table(matrix: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"unit": f"u{k}", "indicator": i, "value": v} for k, row in enumerate(matrix) for i, v in zip("abc", row)]
    )


matrices = st.lists(st.lists(values, min_size=3, max_size=3), min_size=2, max_size=12)


@SETTINGS
@given(matrices)
def test_ratio_to_max_lies_in_0_100_and_the_top_scores_100(matrix):
    scores = compute(spec_of("ratio_to_max"), table(matrix)).scores.set_index("unit")
    raw = pd.DataFrame(matrix, columns=list("abc"), index=[f"u{k}" for k in range(len(matrix))])
    for ind in "abc":
        norm = scores[f"indicator.{ind}"]
        assert norm.between(0, 100).all()
        if raw[ind].max() > 0:
            assert (norm[raw[ind] == raw[ind].max()] == 100).all()
        else:
            assert (norm == 0).all()
    assert scores["total"].between(0, 100 + 1e-9).all()


@SETTINGS
@given(matrices, st.sampled_from(METHODS), st.floats(min_value=1e-3, max_value=1e3), st.sampled_from("abc"))
def test_scaling_an_indicator_changes_nothing(matrix, method, factor, ind):
    before = compute(spec_of(method), table(matrix)).scores
    scaled = table(matrix)
    scaled.loc[scaled["indicator"] == ind, "value"] *= factor
    after = compute(spec_of(method), scaled).scores
    b, a = before.set_index("unit"), after.set_index("unit").loc[before["unit"]]
    assert np.allclose(a["total"], b["total"], rtol=1e-9, atol=1e-7)
    assert np.allclose(a[f"indicator.{ind}"], b[f"indicator.{ind}"], rtol=1e-9, atol=1e-7)


@SETTINGS
@given(
    st.lists(st.lists(positive, min_size=3, max_size=3), min_size=2, max_size=10),
    st.sampled_from(METHODS),
    st.sampled_from(["weighted_arithmetic", "weighted_geometric"]),
    st.integers(min_value=0, max_value=9),
    st.sampled_from("abc"),
    st.floats(min_value=0, max_value=1e6),
)
def test_raising_a_positive_indicator_never_lowers_the_units_total(matrix, method, aggregation, who, ind, increase):
    if aggregation == "weighted_geometric" and method == "z_score":
        return  # refused by the spec (z-scores can be negative)
    unit = f"u{who % len(matrix)}"
    spec = spec_of(method, aggregation)
    before = compute(spec, table(matrix)).scores.set_index("unit").loc[unit, "total"]
    raised = table(matrix)
    raised.loc[(raised["unit"] == unit) & (raised["indicator"] == ind), "value"] += increase
    after = compute(spec, raised).scores.set_index("unit").loc[unit, "total"]
    assert after >= before - 1e-9 * max(1.0, abs(before))


@SETTINGS
@given(
    st.lists(st.floats(min_value=0.05, max_value=1), min_size=3, max_size=3),
    st.lists(st.floats(min_value=0, max_value=100), min_size=3, max_size=3),
    st.sampled_from([0, 1, 2]),
)
def test_weights_are_renormalised_when_a_child_is_missing(raw_weights, child_scores, dropped):
    weights = np.array(raw_weights) / np.sum(raw_weights)
    values = np.array(child_scores, dtype=float)
    values[dropped] = np.nan
    keep = [k for k in range(3) if k != dropped]
    expected = float(np.dot(weights[keep], values[keep]) / weights[keep].sum())
    got = combine(values[None, None, :], weights[None, :], "weighted_arithmetic")[0, 0]
    assert np.isclose(got, expected, rtol=1e-12, atol=1e-12)
    geometric = combine(values[None, None, :], weights[None, :], "weighted_geometric")[0, 0]
    expected_geo = float(np.prod(values[keep] ** (weights[keep] / weights[keep].sum())))
    assert np.isclose(geometric, expected_geo, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(
    st.lists(st.lists(values, min_size=3, max_size=3), min_size=2, max_size=8),
    st.sampled_from("abc"),
    st.integers(min_value=0, max_value=7),
)
def test_engine_drops_a_missing_indicator_and_renormalises(matrix, ind, who):
    """A unit without indicator `ind` scores the weighted mean of its other two normalised values."""
    spec = spec_of("ratio_to_max")
    unit = f"u{who % len(matrix)}"
    t = table(matrix)
    t = t[~((t["unit"] == unit) & (t["indicator"] == ind))]
    row = compute(spec, t).scores.set_index("unit").loc[unit]
    w = dict(zip("abc", (0.5, 0.3, 0.2)))
    rest = [i for i in "abc" if i != ind]
    expected = sum(w[i] * row[f"indicator.{i}"] for i in rest) / sum(w[i] for i in rest)
    assert np.isnan(row[f"indicator.{ind}"])
    assert np.isclose(row["total"], expected, rtol=1e-12, atol=1e-12)
    assert np.isclose(row["coverage"], 1 - w[ind])
