"""The outcome split: each conformed row is new, an update, a duplicate or quarantined; and the counts that
reconcile."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

NEW, UPDATE, DUPLICATE, QUARANTINE = "new", "update", "duplicate", "quarantine"
DUP_IN_BATCH, DUP_EXISTING = "duplicate_in_batch", "duplicate_existing"


def assign(conformed: DataFrame, existing: DataFrame | None, on_existing: str) -> DataFrame:
    """Add `outcome` and `duplicate_of` ('batch' or 'silver').

    Within a batch the latest delivery of a key wins; a key already in silver is a
    duplicate, unless the feed updates (rosters) and the content changed.
    """
    good = F.col("reason_code").isNull()
    # Partitioned by the key alone (good rows ranked first, so a quarantined row never outranks
    # one that goes on): the join with silver and any later per-key window reuse this shuffle.
    order = Window.partitionBy(F.col("record_key")).orderBy(
        good.desc(), F.col("delivery_date").desc(), F.col("source_file").asc(), F.col("raw_record").asc()
    )
    ranked = conformed.withColumn("_rank", F.row_number().over(order))
    if existing is None:
        joined = ranked.withColumn("_seen", F.lit(False)).withColumn("_same", F.lit(False))
    else:
        known = existing.select(
            F.col("record_key"),
            F.lit(True).alias("_seen"),
            *([F.col("content_hash").alias("_old_hash")] if on_existing == "update" else []),
        )
        joined = ranked.join(known, on="record_key", how="left").withColumn("_seen", F.coalesce("_seen", F.lit(False)))
        same = (F.col("_old_hash") == F.col("content_hash")) if on_existing == "update" else F.lit(True)
        joined = joined.withColumn("_same", F.coalesce(same, F.lit(False)))
    outcome = (
        F.when(~good, F.lit(QUARANTINE))
        .when(F.col("_rank") > 1, F.lit(DUPLICATE))
        .when(F.col("_seen") & F.col("_same"), F.lit(DUPLICATE))
        .when(F.col("_seen"), F.lit(UPDATE))
        .otherwise(F.lit(NEW))
    )
    duplicate_of = F.when(good & (F.col("_rank") > 1), F.lit("batch")).when(
        good & F.col("_seen") & F.col("_same"), F.lit("silver")
    )
    return (
        joined.withColumn("outcome", outcome)
        .withColumn("duplicate_of", duplicate_of)
        .drop("_rank", "_seen", "_same", "_old_hash")
    )


def count_outcomes(flagged: DataFrame) -> dict[str, dict[str, int]]:
    """{platform_id: {rows_read, new, update, quarantine, duplicate_in_batch, duplicate_existing}} in one pass."""
    rows = flagged.groupBy("platform_id").agg(
        F.count("*").alias("rows_read"),
        F.sum(F.when(F.col("outcome") == NEW, 1).otherwise(0)).alias(NEW),
        F.sum(F.when(F.col("outcome") == UPDATE, 1).otherwise(0)).alias(UPDATE),
        F.sum(F.when(F.col("outcome") == QUARANTINE, 1).otherwise(0)).alias(QUARANTINE),
        F.sum(F.when(F.col("duplicate_of") == "batch", 1).otherwise(0)).alias(DUP_IN_BATCH),
        F.sum(F.when(F.col("duplicate_of") == "silver", 1).otherwise(0)).alias(DUP_EXISTING),
    )
    return {
        r["platform_id"]: {k: int(r[k]) for k in ("rows_read", NEW, UPDATE, QUARANTINE, DUP_IN_BATCH, DUP_EXISTING)}
        for r in rows.collect()
    }
