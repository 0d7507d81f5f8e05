"""Lines of text in any encoding, into Spark.

Spark's text source reads UTF-8 only, but platforms deliver GBK too. The CSV source
does take an encoding, so a CSV source whose separator and quote are characters that
never occur in a line reads whole lines verbatim. (The generator writes its files with
pyarrow: etl.synthetic.delivery_files.)
"""

from __future__ import annotations

import os
import re
import string
import unicodedata

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.spark import local_frame

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


# java.net.URI keeps these ASCII characters of a path as they are (unreserved, punct, "/" and "@"); it quotes every
# other ASCII character, and of the rest only space and control characters (as UTF-8 octets).
_URI_PATH_KEEPS = frozenset(string.ascii_letters + string.digits + "-_.!~*'()" + ",;:$&+=" + "/@")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.DOTALL)


def _uri_path(path: str) -> str:
    """`path` quoted as java.net.URI quotes a path component (its multi-argument constructors)."""
    return "".join(
        ch
        if ch in _URI_PATH_KEEPS or (ord(ch) >= 0x80 and unicodedata.category(ch) not in ("Cc", "Zs", "Zl", "Zp"))
        else "".join(f"%{b:02X}" for b in ch.encode("utf-8"))
        for ch in path
    )


def spark_file_names(spark: SparkSession, paths: list[str]) -> dict[str, str]:
    """The name Spark gives each file in `_metadata.file_path`: its scheme and authority as the file system qualifies
    them (asked of the JVM once per file system), then its path quoted as java.net.URI quotes it (spaces, brackets,
    braces, `%`, `#`, `?` become octets; `/a b[1].csv` -> `file:/a%20b%5B1%5D.csv`)."""
    prefixes: dict[str, str] = {}
    names = {}
    for p in paths:
        m = _SCHEME.match(p) if "://" in p or p.startswith("file:") else None
        root, rest = (f"{m[1]}:", m[2]) if m else ("", os.path.abspath(p))
        if rest.startswith("//"):
            authority, _, rest = rest[2:].partition("/")
            root, rest = f"{root}//{authority}", "/" + rest
        if root not in prefixes:
            prefixes[root] = _qualified_root(spark, root + "/")
        names[p] = prefixes[root] + _uri_path(re.sub("/+", "/", rest))  # as Hadoop's Path normalises it
    return names


def _qualified_root(spark: SparkSession, root: str) -> str:
    """`file:` or `s3a://bucket` or `hdfs://namenode:8020`: scheme and authority as Spark names a file under root."""
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(root)
    uri = path.getFileSystem(spark._jsc.hadoopConfiguration()).makeQualified(path).toUri()
    return jvm.org.apache.hadoop.fs.Path(uri.getScheme(), uri.getAuthority(), "/").toUri().toString()[:-1]


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
    marks = local_frame(spark, [(n,) for n in continuations], "n int").select("n", F.lit(1).alias("continues"))
    starts = F.when(F.col("continues").isNull(), 1).otherwise(0)
    records = numbered.join(F.broadcast(marks), on="n", how="left").select(
        "n", "line", "source_file", F.sum(starts).over(Window.orderBy("n")).alias("record")
    )
    return (
        records.groupBy("source_file", "record")
        .agg(F.sort_array(F.collect_list(F.struct("n", "line"))).alias("parts"))
        .select(F.array_join(F.col("parts.line"), "\n").alias("line"), "source_file")
    )
