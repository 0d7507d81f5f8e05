"""Load the reference tables from conf/reference into Delta; unchanged tables are left at their version."""

from __future__ import annotations

import hashlib

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from etl import lake, reference
from etl.catalog import REFERENCE_TABLES, Tables
from etl.config import Settings

PROPERTY = "iiap.source_sha256"


def run(spark: SparkSession, settings: Settings) -> dict[str, str]:
    tables = Tables(settings)
    result = {}
    for name in REFERENCE_TABLES:
        source = settings.reference_dir / f"{name}.csv"
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        path = tables.reference(name)
        if lake.exists(spark, path):
            props = DeltaTable.forPath(spark, path).detail().select("properties").first()[0] or {}
            if props.get(PROPERTY) == digest:
                result[name] = "unchanged"
                continue
        df = reference.to_dataframe(spark, settings.reference_dir, name)
        tables.write(df, f"reference.{name}")
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('{PROPERTY}' = '{digest}')")
        result[name] = "loaded"
    return result
