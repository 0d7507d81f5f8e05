"""Connected and effective enterprises by dimension, and access ratios (effective / connected).

An enterprise counts once nationally and in its province, sector and sub-industry,
and once in the row of each platform it is on (with its one, cross-platform label),
so platform rows add up to more than the national count.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# dimension -> the column of the labelled enterprises that keys it (None: the nation, key "CN")
DIMENSIONS: dict[str, str | None] = {
    "national": None,
    "province": "province_code",
    "section": "section_code",
    "sub_industry": "sub_industry_id",
    "platform": "platforms",
}


def _key(column: str | None) -> Column:
    if column is None:
        return F.lit("CN")
    return F.explode(column) if column == "platforms" else F.col(column)


COUNT_COLUMNS = ("dimension", "key", "connected", "effective", "access_ratio")


def access_ratio(effective: Column, connected: Column) -> Column:
    """effective / connected; NULL where nothing is connected."""
    return F.when(connected > 0, effective / connected)


def access_counts(labels: DataFrame) -> DataFrame:
    """labels (one row per enterprise, `effective` boolean) -> (dimension, key, connected, effective, access_ratio)."""

    def by(dimension: str, key: Column) -> DataFrame:
        return (
            labels.select(F.lit(dimension).alias("dimension"), key.alias("key"), "effective")
            .groupBy("dimension", "key")
            .agg(F.count(F.lit(1)).alias("connected"), F.sum(F.col("effective").cast("long")).alias("effective"))
        )

    counts = reduce(DataFrame.unionByName, [by(d, _key(c)) for d, c in DIMENSIONS.items()])
    return counts.select(
        "dimension",
        "key",
        "connected",
        "effective",
        access_ratio(F.col("effective"), F.col("connected")).alias("access_ratio"),
    )


def confusion(labels: DataFrame, truth: DataFrame) -> dict[str, float | int | None]:
    """Labels against the generator's ground truth (credit_code, effective): counts, precision, recall.

    Truth enterprises missing from the labels (their roster rows were quarantined) count
    as labelled not effective; labelled enterprises missing from the truth are reported.
    """
    joined = labels.select("credit_code", F.col("effective").alias("predicted")).join(
        truth.select("credit_code", F.col("effective").alias("actual")), on="credit_code", how="full"
    )
    predicted, actual = F.coalesce("predicted", F.lit(False)), F.coalesce("actual", F.lit(False))

    def n(cond: Column) -> Column:
        return F.sum(F.when(cond, 1).otherwise(0))

    row = (
        joined.agg(
            n(predicted & actual).alias("true_positive"),
            n(predicted & ~actual).alias("false_positive"),
            n(~predicted & actual).alias("false_negative"),
            n(~predicted & ~actual).alias("true_negative"),
            n(F.col("predicted").isNull()).alias("truth_not_labelled"),
            n(F.col("actual").isNull()).alias("labelled_not_in_truth"),
        )
        .first()
        .asDict()
    )
    tp, fp, fn = row["true_positive"], row["false_positive"], row["false_negative"]
    row["precision"] = tp / (tp + fp) if tp + fp else None
    row["recall"] = tp / (tp + fn) if tp + fn else None
    return row
