"""The gold tables of the economic accounting: name -> Spark schema, in this one place.

Money is in 亿元 (100 million yuan, current prices unless the column says otherwise), persons in
万人 (10 thousand), rates and shares as fractions. Every table ends with the MLflow run that wrote it.
"""

from __future__ import annotations

import math

import pandas as pd
from pyspark.sql.types import BooleanType, DoubleType, IntegerType, StringType, StructField, StructType


def _schema(*fields: tuple[str, type]) -> StructType:
    return StructType([StructField(name, kind(), True) for name, kind in fields] + [StructField("run_id", StringType(), False)])


S, I, D, B = StringType, IntegerType, DoubleType, BooleanType
TABLES: dict[str, StructType] = {
    "economy_national": _schema(
        ("year", I), ("gdp", D), ("direct_va", D), ("penetration_va", D), ("total_va", D), ("gdp_share", D),
        ("penetration_rate_multiplier", D), ("gamma", D), ("multiplier", D), ("productivity", D), ("employment", D),
        ("direct_employment", D), ("penetration_employment", D), ("estimated_inputs", B)),
    "economy_section": _schema(
        ("year", I), ("section_code", S), ("sector", I), ("section_va", D), ("direct_rate", D), ("penetration_rate", D),
        ("direct_va", D), ("penetration_va", D), ("total_va", D), ("productivity", D), ("direct_employment", D),
        ("penetration_employment", D), ("employment", D)),
    "economy_three_sector": _schema(
        ("year", I), ("sector", I), ("gdp", D), ("direct_va", D), ("penetration_va", D), ("total_va", D), ("eta", D)),
    "economy_province": _schema(
        ("year", I), ("province_code", S), ("gdp", D), ("direct_va", D), ("penetration_va", D), ("total_va", D),
        ("labour", D), ("gdp_share", D), ("productivity", D), ("employment", D), ("direct_employment", D),
        ("penetration_employment", D)),
    "economy_province_sector": _schema(
        ("year", I), ("province_code", S), ("sector", I), ("gdp", D), ("eta", D), ("weight", D), ("direct_va", D),
        ("penetration_va", D), ("total_va", D)),
    "economy_io_sector": _schema(
        ("sector_code", S), ("sector_name", S), ("section_code", S), ("s_k", D), ("total_output", D),
        ("intermediate_input", D), ("value_added", D), ("direct_va", D), ("delta_y", D), ("lambda", D),
        ("penetration_va", D)),
    "economy_production": _schema(
        ("year", I), ("gdp", D), ("capital_stock", D), ("employment", D), ("fitted_gdp", D), ("gamma", D),
        ("multiplier", D), ("in_fit", B)),
    "economy_production_fit": _schema(
        ("ln_a", D), ("alpha", D), ("beta", D), ("se_ln_a", D), ("se_alpha", D), ("se_beta", D), ("r_squared", D),
        ("n_obs", I), ("fit_first", I), ("fit_last", I)),
    "economy_estimated_inputs": _schema(("table", S), ("column", S), ("year", I), ("value", D)),
    "economy_comparison": _schema(
        ("kind", S), ("figure", S), ("year", I), ("key", S), ("expected", D), ("ours", D), ("unit", S), ("ratio", D),
        ("holds", B), ("seed", S), ("location", S), ("inputs", S)),
}


def _cell(value, kind):
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(kind, IntegerType):
        return int(value)
    if isinstance(kind, DoubleType):
        return float(value)
    if isinstance(kind, BooleanType):
        return bool(value)
    return str(value)


def rows(name: str, frame: pd.DataFrame, run_id: str) -> list[tuple]:
    """The pandas table as tuples in its schema's column order (NaN -> null), stamped with the run."""
    fields = [f for f in TABLES[name].fields if f.name != "run_id"]
    missing = [f.name for f in fields if f.name not in frame.columns]
    if missing:
        raise KeyError(f"{name}: columns {', '.join(missing)} not computed")
    return [tuple(_cell(v, f.dataType) for v, f in zip(rec, fields)) + (run_id,)
            for rec in frame[[f.name for f in fields]].itertuples(index=False, name=None)]


def csv_text(name: str, frame: pd.DataFrame) -> str:
    """The table as CSV in its schema's column order (the MLflow artifact)."""
    cols = [f.name for f in TABLES[name].fields if f.name != "run_id"]
    return frame[cols].to_csv(index=False, lineterminator="\n")
