"""The gold tables of the economic accounting as rows: their columns are declared in etl/catalog.py.

Money is in 亿元 (100 million yuan, current prices unless the column says otherwise), persons in
万人 (10 thousand), rates and shares as fractions. Every table ends with the MLflow run that wrote it.
"""

from __future__ import annotations

import math

import pandas as pd
from pyspark.sql.types import BooleanType, DoubleType, IntegerType, StructType

from etl.catalog import entry, written_by

NAMES: tuple[str, ...] = tuple(t.name for t in written_by("economy"))


def struct(name: str) -> StructType:
    """The table's declared columns, from the catalogue (needs a running Spark session)."""
    return entry(f"gold.{name}").struct()


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
    fields = [f for f in struct(name).fields if f.name != "run_id"]
    missing = [f.name for f in fields if f.name not in frame.columns]
    if missing:
        raise KeyError(f"{name}: columns {', '.join(missing)} not computed")
    return [
        tuple(_cell(v, f.dataType) for v, f in zip(rec, fields)) + (run_id,)
        for rec in frame[[f.name for f in fields]].itertuples(index=False, name=None)
    ]


def csv_text(name: str, frame: pd.DataFrame) -> str:
    """The table as CSV in its schema's column order (the MLflow artifact)."""
    cols = [f.name for f in struct(name).fields if f.name != "run_id"]
    return frame[cols].to_csv(index=False, lineterminator="\n")
