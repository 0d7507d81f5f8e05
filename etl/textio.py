"""Lines of text in any encoding, into Spark.

Spark's text source reads UTF-8 only, but platforms deliver GBK too. The CSV source
does take an encoding, so a CSV source whose separator and quote are characters that
never occur in a line reads whole lines verbatim. (The generator writes its files with
pyarrow: etl.synthetic.delivery_files.)
"""

from __future__ import annotations

import re

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
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


_GLOB = re.compile(r"([\\\[\]{}*?])")


def literal_path(path: str) -> str:
    """A path Spark reads as the one file it names: Spark globs every path, so its glob characters are escaped."""
    return _GLOB.sub(r"\\\1", path)


def read_lines(spark: SparkSession, paths: list[str], encoding: str) -> DataFrame:
    """One row per non-blank line (`line`, without a leading byte-order mark or a trailing CR) and its `source_file`.

    CRLF files (a Windows export) read as LF ones; a UTF-8 byte-order mark is not part of the first line.
    """
    raw = (
        spark.read.options(**_LINE_OPTIONS, encoding=encoding, mode="PERMISSIVE")
        .schema(LINE_SCHEMA)
        .csv([literal_path(p) for p in paths])
    )
    raw_line = F.col("line")
    line = F.when(
        raw_line.startswith("\ufeff") | raw_line.endswith("\r"), F.regexp_replace(raw_line, "^\ufeff|\r$", "")
    ).otherwise(raw_line)
    return raw.select(line.alias("line"), F.col("_metadata.file_path").alias("source_file")).filter(F.col("line") != "")
