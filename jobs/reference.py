"""Load the reference tables from conf/reference into Delta; unchanged tables are left at their version."""

from __future__ import annotations

import hashlib

from pyspark.sql import SparkSession

from etl import lake, reference
from etl.catalog import REFERENCE_TABLES, Tables
from etl.config import Settings

NOTE = "iiap.source_sha256="  # the load's commit note: this prefix, then the source file's SHA-256


def run(spark: SparkSession, settings: Settings) -> dict[str, str]:
    """Each table's fate: "unchanged" when its newest commit is the load of a source with the same SHA-256 (one read
    of that commit file), otherwise "loaded" in one commit that carries the digest."""
    tables = Tables(settings)
    result = {}
    for name in REFERENCE_TABLES:
        source = settings.reference_dir / f"{name}.csv"
        note = NOTE + hashlib.sha256(source.read_bytes()).hexdigest()
        if lake.last_commit_metadata(spark, tables.reference(name)) == note:
            result[name] = "unchanged"
            continue
        tables.write(reference.to_dataframe(spark, settings.reference_dir, name), f"reference.{name}", note=note)
        result[name] = "loaded"
    return result
