"""Batch-level metrics whose baseline is earlier batches, read from ops/quality_history.

Like Deequ's metrics repository: each run stores what it observed (rows per platform
and delivery, province shares of active enterprises) in the history table, and the
next run compares against that instead of against a number written into the rules.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl import credit_code

VOLUME_KEY_SEPARATOR = "|"


def delivery_volume(bronze: DataFrame) -> DataFrame:
    """Rows per platform and delivery day of a batch."""
    return (
        bronze.groupBy("platform_id", "delivery_date")
        .agg(F.count(F.lit(1)).alias("rows"))
        .select("platform_id", "delivery_date", "rows")
    )


def volume_key(platform: Column, delivery: Column) -> Column:
    return F.concat_ws(VOLUME_KEY_SEPARATOR, platform, delivery.cast("string"))


def volume_against_baseline(current: DataFrame, previous: DataFrame, lookback: int) -> DataFrame:
    """Each current delivery with the median rows of its platform's `lookback` earlier deliveries, and their ratio.

    `previous` holds (platform_id, delivery_date, rows) observed by earlier batches; a
    delivery seen again in this batch counts with this batch's rows. The ratio is NULL
    (no baseline yet) for a platform's first delivery.
    """
    prior = previous.join(
        current.select("platform_id", "delivery_date"), on=["platform_id", "delivery_date"], how="left_anti"
    )
    combined = prior.select("platform_id", "delivery_date", "rows", F.lit(False).alias("current")).unionByName(
        current.select("platform_id", "delivery_date", "rows", F.lit(True).alias("current"))
    )
    earlier = Window.partitionBy("platform_id").orderBy("delivery_date").rowsBetween(-lookback, -1)
    baseline = F.percentile(F.col("rows"), F.lit(0.5)).over(earlier)
    return (
        combined.select("platform_id", "delivery_date", "rows", "current", baseline.alias("baseline"))
        .filter(F.col("current"))
        .select("platform_id", "delivery_date", "rows", "baseline", (F.col("rows") / F.col("baseline")).alias("ratio"))
    )


def active_province_share(clean_rows: DataFrame) -> DataFrame:
    """Each province's share of the distinct enterprises active in a batch (province from the credit code)."""
    active = clean_rows.select(
        credit_code.province_code_col(F.col("credit_code")).alias("province_code"), "credit_code"
    ).distinct()
    by_province = active.groupBy("province_code").agg(F.count(F.lit(1)).alias("enterprises"))
    # at most 31 rows: a cross join with the one-row total (a window without partitions would warn of moving all data to
    # one partition)
    total = by_province.agg(F.sum("enterprises").alias("_total"))
    return by_province.join(total, how="cross").select(
        "province_code", "enterprises", (F.col("enterprises") / F.col("_total")).alias("share")
    )


def share_change(current: DataFrame, previous: DataFrame, has_baseline: bool) -> DataFrame:
    """Percentage-point change of each province's share against the previous batch.

    A province absent from one side had share 0 there; without any previous batch the
    change is NULL (nothing to compare, and GE ignores it).
    """
    prev = previous.select("province_code", F.col("share").alias("previous_share"))
    share, before = F.coalesce("share", F.lit(0.0)), F.coalesce("previous_share", F.lit(0.0))
    change = F.abs(share - before) * 100 if has_baseline else F.lit(None).cast("double")
    return current.join(prev, on="province_code", how="full").select(
        "province_code", share.alias("share"), before.alias("previous_share"), change.alias("change_pp")
    )
