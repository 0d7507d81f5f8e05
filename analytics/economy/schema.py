"""The gold tables of the economic accounting: name -> Spark schema, in this one place.

Money is in 亿元 (100 million yuan, current prices unless the column says otherwise), persons in
万人 (10 thousand), rates and shares as fractions. Every table ends with the MLflow run that wrote it.
"""

from __future__ import annotations

import math

import pandas as pd
from pyspark.sql.types import BooleanType, DoubleType, IntegerType, StringType, StructField, StructType


def _schema(*fields: tuple[str, type]) -> StructType:
    return StructType(
        [StructField(name, kind(), True) for name, kind in fields] + [StructField("run_id", StringType(), False)]
    )


STR, INT, DBL, BOOL = StringType, IntegerType, DoubleType, BooleanType
TABLES: dict[str, StructType] = {
    "economy_national": _schema(
        ("year", INT),
        ("gdp", DBL),
        ("direct_va", DBL),
        ("penetration_va", DBL),
        ("total_va", DBL),
        ("gdp_share", DBL),
        ("penetration_rate_multiplier", DBL),
        ("gamma", DBL),
        ("multiplier", DBL),
        ("productivity", DBL),
        ("employment", DBL),
        ("direct_employment", DBL),
        ("penetration_employment", DBL),
        ("estimated_inputs", BOOL),
    ),
    "economy_section": _schema(
        ("year", INT),
        ("section_code", STR),
        ("sector", INT),
        ("section_va", DBL),
        ("direct_rate", DBL),
        ("penetration_rate", DBL),
        ("direct_va", DBL),
        ("penetration_va", DBL),
        ("total_va", DBL),
        ("productivity", DBL),
        ("direct_employment", DBL),
        ("penetration_employment", DBL),
        ("employment", DBL),
    ),
    "economy_three_sector": _schema(
        ("year", INT),
        ("sector", INT),
        ("gdp", DBL),
        ("direct_va", DBL),
        ("penetration_va", DBL),
        ("total_va", DBL),
        ("eta", DBL),
    ),
    "economy_province": _schema(
        ("year", INT),
        ("province_code", STR),
        ("gdp", DBL),
        ("direct_va", DBL),
        ("penetration_va", DBL),
        ("total_va", DBL),
        ("labour", DBL),
        ("gdp_share", DBL),
        ("productivity", DBL),
        ("employment", DBL),
        ("direct_employment", DBL),
        ("penetration_employment", DBL),
    ),
    "economy_province_sector": _schema(
        ("year", INT),
        ("province_code", STR),
        ("sector", INT),
        ("gdp", DBL),
        ("eta", DBL),
        ("weight", DBL),
        ("direct_va", DBL),
        ("penetration_va", DBL),
        ("total_va", DBL),
    ),
    "economy_io_sector": _schema(
        ("sector_code", STR),
        ("sector_name", STR),
        ("section_code", STR),
        ("s_k", DBL),
        ("total_output", DBL),
        ("intermediate_input", DBL),
        ("value_added", DBL),
        ("direct_va", DBL),
        ("delta_y", DBL),
        ("lambda", DBL),
        ("penetration_va", DBL),
    ),
    "economy_production": _schema(
        ("year", INT),
        ("gdp", DBL),
        ("capital_stock", DBL),
        ("employment", DBL),
        ("fitted_gdp", DBL),
        ("gamma", DBL),
        ("multiplier", DBL),
        ("in_fit", BOOL),
    ),
    "economy_production_fit": _schema(
        ("ln_a", DBL),
        ("alpha", DBL),
        ("beta", DBL),
        ("se_ln_a", DBL),
        ("se_alpha", DBL),
        ("se_beta", DBL),
        ("r_squared", DBL),
        ("n_obs", INT),
        ("fit_first", INT),
        ("fit_last", INT),
    ),
    "economy_estimated_inputs": _schema(("table", STR), ("column", STR), ("year", INT), ("value", DBL)),
    "economy_comparison": _schema(
        ("kind", STR),
        ("figure", STR),
        ("year", INT),
        ("key", STR),
        ("expected", DBL),
        ("ours", DBL),
        ("unit", STR),
        ("ratio", DBL),
        ("holds", BOOL),
        ("seed", STR),
        ("location", STR),
        ("inputs", STR),
    ),
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
    return [
        tuple(_cell(v, f.dataType) for v, f in zip(rec, fields)) + (run_id,)
        for rec in frame[[f.name for f in fields]].itertuples(index=False, name=None)
    ]


def csv_text(name: str, frame: pd.DataFrame) -> str:
    """The table as CSV in its schema's column order (the MLflow artifact)."""
    cols = [f.name for f in TABLES[name].fields if f.name != "run_id"]
    return frame[cols].to_csv(index=False, lineterminator="\n")
