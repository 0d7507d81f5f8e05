"""The suites of one batch, table by table: what frame each suite validates and what it observes.

Used by `iiap ingest` (as gates, before anything downstream is written) and by
`iiap quality` (on its own, for a batch already ingested).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl.spark import local_frame
from quality import baselines
from quality.runner import Validator, previous_observations
from quality.spec import Rule


def _rules(v: Validator, table: str, *checks: str, exclude: bool = False) -> tuple[Rule, ...]:
    rules = v.spec.suite(table)
    return tuple(r for r in rules if (r.check in checks) != exclude)


FILE_SUITE = "landing.files"


def check_landing_files(v: Validator, tally: list[tuple[str, int, int]]) -> None:
    """The rules of `landing.files` on one row per platform of the batch: its files, and those quarantined whole.

    Driver-side rows (at most 34); the quarantined files per platform are observed into
    ops/quality_history for the data-quality trend.
    """
    rules = v.spec.suite(FILE_SUITE)
    if not rules or not tally:
        return
    frame = local_frame(
        v.spark,
        [(pid, n + bad, bad, 100.0 * bad / (n + bad)) for pid, n, bad in tally],
        "platform_id string, files int, quarantined_files int, quarantined_file_percent double",
    )  # rows in the plan: nothing to cache
    observed = {pid: float(bad) for pid, _, bad in tally}
    v.validate(FILE_SUITE, frame, rules, observed={r.name: observed for r in rules})


def check_bronze(v: Validator, feed: str, bronze: DataFrame) -> None:
    """The delivery rules of `bronze.<feed>` on the batch's bronze rows, then the volume rule."""
    table = f"bronze.{feed}"
    v.validate(table, bronze, _rules(v, table, "volume", exclude=True))
    for rule in _rules(v, table, "volume"):
        current = baselines.delivery_volume(bronze).cache()
        prior = previous_observations(v.spark, v.history_path, f"{table}.{rule.name}", rule.name, v.batch_id)
        previous = (
            prior.select(
                F.split("key", "\\" + baselines.VOLUME_KEY_SEPARATOR).getItem(0).alias("platform_id"),
                F.to_date(F.split("key", "\\" + baselines.VOLUME_KEY_SEPARATOR).getItem(1)).alias("delivery_date"),
                F.col("value").cast("long").alias("rows"),
                "validated_at",
            )
            # a delivery observed by several batches counts as its latest observation
            .withColumn("_latest", F.max("validated_at").over(Window.partitionBy("platform_id", "delivery_date")))
            .filter(F.col("validated_at") == F.col("_latest"))
            .select("platform_id", "delivery_date", "rows")
        )
        frame = baselines.volume_against_baseline(current, previous, rule.args.lookback).cache()
        try:
            # one row per platform and delivery day of the batch: small enough for the history map
            observed = {
                f"{r.platform_id}{baselines.VOLUME_KEY_SEPARATOR}{r.delivery_date}": float(r.rows)
                for r in current.collect()
            }
            v.validate(f"{table}.{rule.name}", frame, (rule,), observed={rule.name: observed})
        finally:
            frame.unpersist()
            current.unpersist()


def check_silver(v: Validator, feed: str, flagged: DataFrame) -> None:
    """The row and key rules of `silver.<feed>` on the batch's conformed rows (with their outcome)."""
    table = f"silver.{feed}"
    v.validate(table, flagged, _rules(v, table, "province_share", exclude=True), routed=True)


def check_activity_shares(v: Validator, accepted_logins: DataFrame) -> None:
    """The province-share rule of `silver.logins`: who was active in this batch, against the previous batch."""
    table = "silver.logins"
    for rule in _rules(v, table, "province_share"):
        current = baselines.active_province_share(accepted_logins).cache()
        prior = previous_observations(v.spark, v.history_path, f"{table}.{rule.name}", rule.name, v.batch_id)
        latest = prior.agg(F.max("validated_at").alias("at")).collect()[0]["at"]
        previous = prior.filter(F.col("validated_at") == F.lit(latest)).select(
            F.col("key").alias("province_code"), F.col("value").alias("share")
        )
        frame = baselines.share_change(current, previous, has_baseline=latest is not None).cache()
        try:
            observed = {r.province_code: float(r.share) for r in current.collect()}  # at most 31 provinces
            v.validate(f"{table}.{rule.name}", frame, (rule,), observed={rule.name: observed})
        finally:
            frame.unpersist()
            current.unpersist()


def check_master(v: Validator, master: DataFrame) -> None:
    v.validate("silver.enterprise_master", master, v.spec.suite("silver.enterprise_master"))
