"""Lines of text in any encoding, into Spark.

Spark's text source reads UTF-8 only, but platforms deliver GBK too. The CSV source
does take an encoding, so a CSV source whose separator and quote are characters that
never occur in a line reads whole lines verbatim. (The generator writes its files with
pyarrow: etl.synthetic.delivery_files.)
"""

from __future__ import annotations

import re

from pyspark.sql import DataFrame, SparkSession, Window
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


def _lines(spark: SparkSession, paths: list[str], encoding: str, *extra) -> DataFrame:
    raw = (
        spark.read.options(**_LINE_OPTIONS, encoding=encoding, mode="PERMISSIVE")
        .schema(LINE_SCHEMA)
        .csv([literal_path(p) for p in paths])
    )
    raw_line = F.col("line")
    line = F.when(
        raw_line.startswith("\ufeff") | raw_line.endswith("\r"), F.regexp_replace(raw_line, "^\ufeff|\r$", "")
    ).otherwise(raw_line)
    return raw.select(line.alias("line"), F.col("_metadata.file_path").alias("source_file"), *extra).filter(
        F.col("line") != ""
    )


def read_lines(spark: SparkSession, paths: list[str], encoding: str) -> DataFrame:
    """One row per non-blank line (`line`, without a leading byte-order mark or a trailing CR) and its `source_file`.

    CRLF files (a Windows export) read as LF ones; a UTF-8 byte-order mark is not part of the first line.
    """
    return _lines(spark, paths, encoding)


def read_joined_lines(spark: SparkSession, path: str, encoding: str, continuations: tuple[int, ...]) -> DataFrame:
    """`read_lines` of one file whose lines numbered in `continuations` (non-blank lines, the first is 1) are joined,
    by LF, to the line before them: a CSV record whose quoted field holds line breaks (etl.file_check finds them).

    Lines are numbered in file order: by the split a task read and the position in it.
    """
    lines = _lines(
        spark,
        [path],
        encoding,
        F.col("_metadata.file_block_start").alias("block"),
        F.monotonically_increasing_id().alias("position"),
    )
    numbered = lines.select("line", "source_file", F.row_number().over(Window.orderBy("block", "position")).alias("n"))
    marks = spark.createDataFrame([(n,) for n in continuations], "n int").select("n", F.lit(1).alias("continues"))
    starts = F.when(F.col("continues").isNull(), 1).otherwise(0)
    records = numbered.join(F.broadcast(marks), on="n", how="left").select(
        "n", "line", "source_file", F.sum(starts).over(Window.orderBy("n")).alias("record")
    )
    return (
        records.groupBy("source_file", "record")
        .agg(F.sort_array(F.collect_list(F.struct("n", "line"))).alias("parts"))
        .select(F.array_join(F.col("parts.line"), "\n").alias("line"), "source_file")
    )
