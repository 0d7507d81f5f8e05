"""Label each connected enterprise effective or not under a rule set, with its reasons.

Connected enterprises are the enterprise master (every credit code on a roster);
one with no activity in the window has all features 0 and fails every signal.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from analytics.rule_sets import FEATURES, Node, RuleSet, parse_expression

MASTER_COLUMNS = ("credit_code", "province_code", "section_code", "sub_industry_id", "platforms")


def signal_passes(thresholds: dict[str, float]) -> Column:
    """Every threshold met (feature >= threshold); features are never NULL here."""
    cond = None
    for feature, value in thresholds.items():
        met = F.col(feature) >= F.lit(float(value))
        cond = met if cond is None else cond & met
    return cond


def _signal_col(name: str) -> str:
    return f"signal_{name}"


def _fold(node: Node, signals: dict[str, Column]) -> Column:
    kind = node[0]
    if kind == "signal":
        return signals[node[1]]
    if kind == "not":
        return ~_fold(node[1], signals)
    left, right = _fold(node[1], signals), _fold(node[2], signals)
    return left & right if kind == "and" else left | right


def effective(rule_set: RuleSet, signals: dict[str, Column]) -> Column:
    """The rule set's combination of its signals (one boolean Column per signal name)."""
    if rule_set.combine.k_of is not None:
        passed = None
        for name in rule_set.signals:
            n = signals[name].cast("int")
            passed = n if passed is None else passed + n
        return passed >= F.lit(rule_set.combine.k_of)
    return _fold(parse_expression(rule_set.combine.expression), signals)


def with_features(master: DataFrame, features: DataFrame) -> DataFrame:
    """Every connected enterprise with its features; no activity in the window means zeros."""
    joined = master.select(*MASTER_COLUMNS).join(features, on="credit_code", how="left")
    return joined.select(*MASTER_COLUMNS, *[F.coalesce(F.col(f), F.lit(0)).alias(f) for f in FEATURES])


def label_enterprises(enterprises: DataFrame, rule_set: RuleSet) -> DataFrame:
    """enterprises (master columns + features) -> one labelled row per enterprise."""
    names = list(rule_set.signals)
    signals = enterprises.select(
        *MASTER_COLUMNS,
        *FEATURES,
        *[signal_passes(rule_set.signals[n].thresholds).alias(_signal_col(n)) for n in names],
    )
    passed = F.filter(F.array(*[F.when(F.col(_signal_col(n)), F.lit(n)) for n in names]), lambda x: x.isNotNull())
    failed = F.filter(F.array(*[F.when(~F.col(_signal_col(n)), F.lit(n)) for n in names]), lambda x: x.isNotNull())
    return signals.select(
        *MASTER_COLUMNS,
        effective(rule_set, {n: F.col(_signal_col(n)) for n in names}).alias("effective"),
        passed.alias("passed_signals"),
        failed.alias("failed_signals"),
        F.lit(rule_set.name).alias("rule_set"),
        *FEATURES,
    )


def sensitivity(enterprises: DataFrame, rule_set: RuleSet, steps_percent: tuple[float, ...]) -> list[dict]:
    """Effective count when each threshold alone moves by each step: one aggregation over the enterprises."""
    variants = {"baseline": (None, 0.0, rule_set)}
    for key, value in rule_set.thresholds().items():
        for step in steps_percent:
            variants[f"{key}|{step}"] = (key, step, rule_set.with_threshold(key, value * (1 + step / 100)))

    def count(rs: RuleSet, alias: str) -> Column:
        label = effective(rs, {n: signal_passes(sig.thresholds) for n, sig in rs.signals.items()})
        return F.sum(F.when(label, 1).otherwise(0)).alias(alias)

    aliases = {name: f"v{i}" for i, name in enumerate(variants)}
    row = enterprises.agg(*[count(rs, aliases[name]) for name, (_, _, rs) in variants.items()]).first()
    base = row[aliases["baseline"]]
    thresholds = rule_set.thresholds()
    out = []
    for name, (key, step, rs) in variants.items():
        if key is None:
            continue
        n = row[aliases[name]]
        out.append(
            {
                "threshold": key,
                "baseline_value": thresholds[key],
                "step_percent": step,
                "value": rs.thresholds()[key],
                "effective": n,
                "baseline_effective": base,
                "change": n - base,
                "change_percent": (n - base) / base * 100 if base else None,
            }
        )
    return out
