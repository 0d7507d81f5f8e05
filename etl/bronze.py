"""Landing files -> bronze rows: every delivered record, as text, under canonical field names.

Bronze keeps what arrived (the raw record, the fields the contract does not know,
the ones it misses, and whether the record parsed at all); it judges nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.config import Contract, FeedSpec
from etl.landing import LandingFile
from etl.spark import local_frame
from etl.textio import literal_path, read_joined_lines, read_lines, spark_file_names

MALFORMED, NUL_BYTE, UNBALANCED_QUOTE = "malformed_record", "nul_byte", "unbalanced_quote"
RAW_SCHEMA = T.StructType(
    [
        T.StructField("platform_id", T.StringType(), False),
        T.StructField("source_file", T.StringType(), False),
        T.StructField("raw_record", T.StringType(), True),
        T.StructField("fields", T.MapType(T.StringType(), T.StringType(), True), True),
        T.StructField("parse_error", T.StringType(), True),
    ]
)
_CSV_NULL = "\u0000"  # a field can be empty (""), only a missing token parses as NULL


def _line_error(line: Column, csv_quotes: bool) -> Column:
    """Why a line cannot be a record whatever its format: a NUL byte, or (CSV) an unbalanced quote."""
    error = F.when(line.contains("\u0000"), F.lit(NUL_BYTE))
    if csv_quotes:  # RFC 4180 quotes come in pairs ("" inside a quoted field is two); counted only where there are
        quotes = F.length(line) - F.length(F.replace(line, F.lit('"'), F.lit("")))
        error = error.when(line.contains('"') & ((quotes % 2) == 1), F.lit(UNBALANCED_QUOTE))
    return error


def _raw_json(lines: DataFrame) -> DataFrame:
    fields = F.from_json(F.col("line"), T.MapType(T.StringType(), T.StringType()))
    error = _line_error(F.col("line"), csv_quotes=False)
    return lines.select(
        "platform_id",
        "source_file",
        F.col("line").alias("raw_record"),
        F.when(error.isNull(), fields).alias("fields"),
        F.coalesce(error, F.when(fields.isNull(), F.lit(MALFORMED))).alias("parse_error"),
    )


def _csv_lines(spark: SparkSession, files: list[LandingFile], encoding: str) -> DataFrame:
    """The files' lines, a record whose quoted field spans lines joined into one (etl.file_check numbered them)."""
    plain = [f.path for f in files if not f.continuation_lines]
    parts = [read_lines(spark, plain, encoding)] if plain else []
    parts += [read_joined_lines(spark, f.path, encoding, f.continuation_lines) for f in files if f.continuation_lines]
    return reduce(DataFrame.unionByName, parts)


def _raw_csv(lines: DataFrame, delimiter: str, width: int) -> DataFrame:
    """CSV lines of files whose headers are `width` names, each line with its file's `header` and `header_line`."""
    names = [f"c{i}" for i in range(width)]
    schema = ", ".join(f"{n} string" for n in [*names, "_overflow"])
    parsed = F.from_csv(
        F.col("line"),
        schema,
        {
            "sep": delimiter,
            "quote": '"',
            "escape": '"',
            "nullValue": _CSV_NULL,
            "emptyValue": "",
            "mode": "PERMISSIVE",
        },
    )
    # Too many tokens fill _overflow. Too few: counted by splitting when the line has no
    # quotes (a quoted field may hold the delimiter); quoted lines are judged by _overflow only.
    tokens = F.size(F.split(F.col("line"), re.escape(delimiter), -1))
    wrong_width = F.col("p._overflow").isNotNull() | (~F.col("line").contains('"') & (tokens != width))
    error = _line_error(F.col("line"), csv_quotes=True)
    return (
        lines.filter(~F.col("line").eqNullSafe(F.col("header_line")))
        .select("platform_id", "source_file", "line", "header", parsed.alias("p"), error.alias("error"))
        .select(
            "platform_id",
            "source_file",
            F.col("line").alias("raw_record"),
            F.when(
                F.col("error").isNull() & ~wrong_width,
                F.map_from_arrays(F.col("header"), F.array(*[F.coalesce(F.col(f"p.{n}"), F.lit("")) for n in names])),
            ).alias("fields"),
            F.coalesce(F.col("error"), F.when(wrong_width, F.lit(MALFORMED))).alias("parse_error"),
        )
    )


def _raw_parquet(files: DataFrame, columns: list[str]) -> DataFrame:
    return files.select(
        "platform_id",
        "source_file",
        F.to_json(F.struct(*[F.col(c) for c in columns])).alias("raw_record"),
        F.create_map(*[x for c in columns for x in (F.lit(c), F.col(c).cast("string"))]).alias("fields"),
        F.lit(None).cast("string").alias("parse_error"),
    )


FILE_SCHEMA = "source_file string, platform_id string, header array<string>, header_line string"


def _with_files(spark: SparkSession, rows: DataFrame, files: list[LandingFile]) -> DataFrame:
    """`rows` (read from `files`) with each file's platform and CSV header, joined on the name Spark gives the file.

    A row whose file is not found keeps a NULL platform: reconciliation then stops the batch, nothing is lost.
    """
    names = spark_file_names(spark, [f.path for f in files])
    known = local_frame(
        spark,
        [
            (names[f.path], f.platform_id, list(f.columns) if f.header_line is not None else None, f.header_line)
            for f in files
        ],
        FILE_SCHEMA,
    )
    return rows.join(F.broadcast(known), on="source_file", how="left")


def _reader(f: LandingFile, contract: Contract) -> tuple:
    """Files with one reader key are read in one scan, whatever their platform: JSON lines by encoding, CSV by
    encoding, delimiter and header width (names and header line come per file), Parquet by schema."""
    encoding = f.encoding or contract.encoding
    if contract.format == "jsonl":
        return ("jsonl", encoding)
    if contract.format == "csv":
        return ("csv", encoding, contract.delimiter, len(f.columns))
    return ("parquet", f.columns, f.column_types)


def read_raw(spark: SparkSession, files: list[LandingFile], contracts: Mapping[str, Contract]) -> DataFrame:
    """Parse one feed's files of any platforms: one scan per reader key (see `_reader`), from what their file check
    found (encoding, CSV header, Parquet schema), so no file is opened on the driver here."""
    groups: dict[tuple, list[LandingFile]] = defaultdict(list)
    for f in files:
        groups[_reader(f, contracts[f.platform_id])].append(f)
    parts = []
    for key, group in sorted(groups.items()):
        paths = [f.path for f in group]
        if key[0] == "jsonl":
            parts.append(_raw_json(_with_files(spark, read_lines(spark, paths, key[1]), group)))
        elif key[0] == "csv":
            _, encoding, delimiter, width = key
            parts.append(_raw_csv(_with_files(spark, _csv_lines(spark, group, encoding), group), delimiter, width))
        else:
            read = spark.read.parquet(*[literal_path(p) for p in paths])
            rows = read.select(*key[1], F.col("_metadata.file_path").alias("source_file"))
            parts.append(_raw_parquet(_with_files(spark, rows, group), list(key[1])))
    return reduce(DataFrame.unionByName, parts)


def _by_platform(contracts: Mapping[str, Contract], value) -> Column:
    """`value(contract)` of the row's platform: a literal map from platform id, looked up per row."""
    pairs = [x for pid, c in sorted(contracts.items()) for x in (F.lit(pid), value(c))]
    return F.try_element_at(F.create_map(*pairs), F.col("platform_id"))


def to_bronze(raw: DataFrame, contracts: Mapping[str, Contract], feed: str, spec: FeedSpec) -> DataFrame:
    """Rename each platform's fields to canonical names (still text), in feeds.yaml's order, and record missing and
    unknown fields. `contracts`: the contracts of the platforms in `raw`."""
    source = {name: _by_platform(contracts, lambda c, n=name: F.lit(c.fields[feed][n])) for name in spec.fields}
    known = _by_platform(contracts, lambda c: F.array(*[F.lit(src) for src in c.fields[feed].values()]))
    no_fields, no_names = F.create_map().cast("map<string,string>"), F.array().cast("array<string>")
    fields = F.coalesce(F.col("fields"), no_fields)
    present = [(name, F.map_contains_key(fields, source[name])) for name, f in spec.fields.items() if f.required]
    # Spark interprets lambdas row by row (no codegen): they run only on the rare record
    # that misses a field or carries an unknown one, found first by compiled checks.
    missing = F.when(reduce(lambda a, b: a & b, [p for _, p in present], F.lit(True)), no_names).otherwise(
        F.filter(F.array(*[F.when(~p, F.lit(name)) for name, p in present]), lambda x: x.isNotNull())
    )
    extra = F.when(F.size(F.array_except(F.map_keys(fields), known)) == 0, no_fields).otherwise(
        F.map_filter(fields, lambda k, v: ~F.array_contains(known, k))
    )
    return raw.select(
        "platform_id",
        "source_file",
        F.to_date(F.regexp_extract("source_file", r"/(\d{4}-\d{2}-\d{2})/[^/]+$", 1)).alias("delivery_date"),
        "raw_record",
        "parse_error",
        F.when(F.col("parse_error").isNull(), missing).otherwise(no_names).alias("missing_fields"),
        extra.alias("extra_fields"),
        *[F.try_element_at(F.col("fields"), source[name]).alias(name) for name in spec.fields],
    )
