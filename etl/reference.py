"""Reference data kept in git (conf/reference/*.csv): platforms, provinces, sections, sub-industries, apps."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

S = T.StringType()
SCHEMAS: dict[str, T.StructType] = {
    "platforms": T.StructType([T.StructField(n, S, n != "platform_id") for n in ("platform_id", "company_name", "platform_name", "province_name")]),
    "provinces": T.StructType(
        [T.StructField(n, S, n == "economic_zone") for n in ("province_code", "division_code", "name_zh", "full_name_zh", "name_en", "region", "economic_zone")]
    ),
    "economic_zones": T.StructType(
        [T.StructField("zone_id", S, False), T.StructField("name_zh", S, False), T.StructField("name_en", S, False), T.StructField("table_3_7_order", T.IntegerType(), False)]
    ),
    "sections": T.StructType([T.StructField(n, S, False) for n in ("section_code", "name_zh", "name_en")]),
    "sub_industries": T.StructType(
        [T.StructField(n, S, n == "section_code") for n in ("sub_industry_id", "name_zh", "name_en", "section_code")]
        + [T.StructField("table_4_2_rank", T.IntegerType(), False)]
    ),
    "apps": T.StructType([T.StructField(n, S, n == "sub_industry_id") for n in ("app_id", "name_zh", "name_en", "kind", "sub_industry_id", "category")]),
}


@lru_cache(maxsize=None)
def _read(path: Path) -> tuple[dict[str, str], ...]:
    with path.open(encoding="utf-8", newline="") as f:
        return tuple(dict(row) for row in csv.DictReader(f))


def rows(reference_dir: Path, name: str) -> list[dict[str, str]]:
    """A reference table as plain dicts, for the driver-side logic that needs a few hundred rows at most."""
    if name not in SCHEMAS:
        raise KeyError(f"unknown reference table {name!r}")
    return [dict(r) for r in _read(reference_dir / f"{name}.csv")]


def _typed(value: str, field: T.StructField):
    if value == "":
        return None
    return int(value) if isinstance(field.dataType, T.IntegerType) else value


def to_dataframe(spark: SparkSession, reference_dir: Path, name: str) -> DataFrame:
    schema = SCHEMAS[name]
    data = [tuple(_typed(r[f.name], f) for f in schema.fields) for r in rows(reference_dir, name)]
    return spark.createDataFrame(data, schema)
