"""Reference data kept in git (conf/reference/*.csv): platforms, provinces, sections, sub-industries, apps."""

from __future__ import annotations

import csv
import io
from functools import cache
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from etl.catalog import REFERENCE_TABLES, entry
from etl.spark import local_frame


def _read(path: Path) -> tuple[dict[str, str], ...]:
    return _parse(path.read_text(encoding="utf-8"))


@cache
def _parse(text: str) -> tuple[dict[str, str], ...]:
    """Cached by content, not by path: a file edited while the process runs is read as it is now."""
    return tuple(dict(row) for row in csv.DictReader(io.StringIO(text, newline="")))


def rows(reference_dir: Path, name: str) -> list[dict[str, str]]:
    """A reference table as plain dicts, for the driver-side logic that needs a few hundred rows at most."""
    if name not in REFERENCE_TABLES:
        raise KeyError(f"unknown reference table {name!r}")
    return [dict(r) for r in _read(reference_dir / f"{name}.csv")]


def _typed(value: str, field: T.StructField):
    if value == "":
        return None
    return int(value) if isinstance(field.dataType, T.IntegerType) else value


def to_dataframe(spark: SparkSession, reference_dir: Path, name: str) -> DataFrame:
    schema = entry(f"reference.{name}").struct()
    data = [tuple(_typed(r[f.name], f) for f in schema.fields) for r in rows(reference_dir, name)]
    return local_frame(spark, data, schema)
