"""Lines of text in any encoding, into Spark.

Spark's text source reads UTF-8 only, but platforms deliver GBK too. The CSV source
does take an encoding, so a CSV source whose separator and quote are characters that
never occur in a line reads whole lines verbatim. (The generator writes its files with
pyarrow: etl.synthetic.delivery_files.)
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

_NEVER = "\u0001"  # column separator that no delivered line contains
_LINE_OPTIONS = {
    "sep": _NEVER,
    "quote": "",  # no quoting: the whole line is one value
    "escape": "",
    "comment": "",
    "header": "false",
    "multiLine": "false",
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
    "nullValue": "\u0000",
    "emptyValue": "",
    "lineSep": "\n",
}
LINE_SCHEMA = T.StructType([T.StructField("line", T.StringType(), True)])


def read_lines(spark: SparkSession, paths: list[str], encoding: str) -> DataFrame:
    """One row per line (column `line`) plus the hidden `_metadata` column of the file source."""
    return spark.read.options(**_LINE_OPTIONS, encoding=encoding, mode="PERMISSIVE").schema(LINE_SCHEMA).csv(paths)
