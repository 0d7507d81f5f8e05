"""Landing files -> bronze rows: every delivered record, as text, under canonical field names.

Bronze keeps what arrived (the raw record, the fields the contract does not know,
the ones it misses, and whether the record parsed at all); it judges nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.config import Contract, FeedSpec
from etl.landing import LandingFile
from etl.textio import literal_path, read_joined_lines, read_lines

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


def _raw_json(spark: SparkSession, paths: list[str], contract: Contract, encoding: str) -> DataFrame:
    fields = F.from_json(F.col("line"), T.MapType(T.StringType(), T.StringType()))
    error = _line_error(F.col("line"), csv_quotes=False)
    return read_lines(spark, paths, encoding).select(
        F.lit(contract.platform_id).alias("platform_id"),
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


def _raw_csv(lines: DataFrame, contract: Contract, header: list[str], header_line: str) -> DataFrame:
    names = [f"c{i}" for i in range(len(header))]
    schema = ", ".join(f"{n} string" for n in [*names, "_overflow"])
    parsed = F.from_csv(
        F.col("line"),
        schema,
        {
            "sep": contract.delimiter,
            "quote": '"',
            "escape": '"',
            "nullValue": _CSV_NULL,
            "emptyValue": "",
            "mode": "PERMISSIVE",
        },
    )
    # Too many tokens fill _overflow. Too few: counted by splitting when the line has no
    # quotes (a quoted field may hold the delimiter); quoted lines are judged by _overflow only.
    tokens = F.size(F.split(F.col("line"), re.escape(contract.delimiter), -1))
    wrong_width = F.col("p._overflow").isNotNull() | (~F.col("line").contains('"') & (tokens != len(header)))
    error = _line_error(F.col("line"), csv_quotes=True)
    return (
        lines.filter(F.col("line") != F.lit(header_line))
        .select("line", "source_file", parsed.alias("p"), error.alias("error"))
        .select(
            F.lit(contract.platform_id).alias("platform_id"),
            "source_file",
            F.col("line").alias("raw_record"),
            F.when(
                F.col("error").isNull() & ~wrong_width,
                F.map_from_arrays(
                    F.array(*[F.lit(h) for h in header]),
                    F.array(*[F.coalesce(F.col(f"p.{n}"), F.lit("")) for n in names]),
                ),
            ).alias("fields"),
            F.coalesce(F.col("error"), F.when(wrong_width, F.lit(MALFORMED))).alias("parse_error"),
        )
    )


def _raw_parquet(spark: SparkSession, paths: list[str], contract: Contract, columns: list[str]) -> DataFrame:
    df = spark.read.parquet(*[literal_path(p) for p in paths])
    return df.select(
        F.lit(contract.platform_id).alias("platform_id"),
        F.col("_metadata.file_path").alias("source_file"),
        F.to_json(F.struct(*[F.col(c) for c in columns])).alias("raw_record"),
        F.create_map(*[x for c in columns for x in (F.lit(c), F.col(c).cast("string"))]).alias("fields"),
        F.lit(None).cast("string").alias("parse_error"),
    )


def read_raw(spark: SparkSession, files: list[LandingFile], contract: Contract) -> DataFrame:
    """Parse one platform's files of one feed, grouped by what their file check found: the encoding they are read
    in, and their CSV header or Parquet schema (so no file is opened on the driver here)."""
    groups: dict[tuple, list[LandingFile]] = defaultdict(list)
    for f in files:
        groups[(f.encoding or contract.encoding, f.columns, f.column_types, f.header_line or "")].append(f)
    parts = []
    for (encoding, columns, _, header_line), group in sorted(groups.items()):
        paths = [f.path for f in group]
        if contract.format == "jsonl":
            parts.append(_raw_json(spark, paths, contract, encoding))
        elif contract.format == "csv":
            parts.append(_raw_csv(_csv_lines(spark, group, encoding), contract, list(columns), header_line))
        else:
            parts.append(_raw_parquet(spark, paths, contract, list(columns)))
    return reduce(DataFrame.unionByName, parts)


def to_bronze(raw: DataFrame, contract: Contract, feed: str, spec: FeedSpec) -> DataFrame:
    """Rename the contract's fields to canonical names (still text) and record missing and unknown fields."""
    mapping = contract.fields[feed]
    known = F.array(*[F.lit(src) for src in mapping.values()])
    no_fields, no_names = F.create_map().cast("map<string,string>"), F.array().cast("array<string>")
    fields = F.coalesce(F.col("fields"), no_fields)
    present = [(name, F.map_contains_key(fields, mapping[name])) for name, f in spec.fields.items() if f.required]
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
        *[F.col("fields").getItem(src).alias(name) for name, src in mapping.items()],
    )
