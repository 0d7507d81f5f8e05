"""iiap quality: run the suites of conf/quality.yaml on an ingested batch, on its own.

Load inputs (the batch's bronze rows, silver without the batch) -> process (conform,
route and validate exactly as ingest does) -> save (ops/quality_history, Data Docs).
Nothing else is written: quarantine and silver stay as ingest left them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import lake, outcomes, reference
from etl.config import FEED_NAMES, Settings
from etl.master import build_master
from etl.pseudonym import key_from_env
from etl.silver import ConformContext, conform, overlay, to_silver
from etl.tables import Tables
from quality.suites import check_activity_shares, check_bronze, check_master, check_silver
from quality.routing import route
from quality.context import RuleContext
from quality.forms import with_key_counts
from quality.runner import Outcome, Validator
from quality.spec import QualitySpec, load_quality, quality_context_root


class UnknownBatch(LookupError):
    """No committed batch with that id (or no batch at all)."""


@dataclass(frozen=True)
class QualityResult:
    batch_id: str
    outcomes: list[Outcome]
    breaches: list[Outcome]
    docs: str | None


def latest_batch(spark: SparkSession, tables: Tables) -> str:
    if not lake.exists(spark, tables.batches):
        raise UnknownBatch(f"no batches in {tables.batches}: run iiap ingest first")
    done = lake.read(spark, tables.batches).filter("status = 'committed' AND files > 0").orderBy(F.col("at").desc()).limit(1).collect()
    if not done:
        raise UnknownBatch(f"no committed batch in {tables.batches}")
    return done[0]["batch_id"]


def run(spark: SparkSession, settings: Settings, batch_id: str | None = None, progress=lambda msg: None, quality: QualitySpec | None = None) -> QualityResult:
    tables = Tables(settings)
    quality = quality or load_quality(settings)
    key = key_from_env(settings.pipeline.ingest.pseudonym_key_env)

    # --- load inputs ---------------------------------------------------------------------------
    batch_id = batch_id or latest_batch(spark, tables)
    in_lake = {feed: lake.read(spark, tables.bronze(feed)).filter(F.col("batch_id") == batch_id) for feed in FEED_NAMES if lake.exists(spark, tables.bronze(feed))}
    bronze = {feed: rows for feed, rows in in_lake.items() if not rows.isEmpty()}  # a batch need not carry every feed
    if not bronze:
        raise UnknownBatch(f"batch {batch_id} has no rows in bronze")

    def silver_without_batch(feed: str) -> DataFrame | None:
        path = tables.silver(feed)
        return lake.read(spark, path).filter(F.col("batch_id") != batch_id) if lake.exists(spark, path) else None

    ctx = ConformContext.from_settings(settings)
    rule_ctx = RuleContext.from_settings(settings)
    validator = Validator(spark, quality, rule_ctx, quality_context_root(settings, quality), tables.quality_history, batch_id, "quality")
    roster_silver = silver_without_batch("roster")

    # --- process: staged as ingest stages a batch (on disk, not in executor memory) --------------
    scratch = tables.staging(f"quality-{batch_id}")
    try:
        for feed, rows in bronze.items():
            progress(f"{feed}: bronze.{feed} and silver.{feed}")
            rows = lake.stage(rows, f"{scratch}/{feed}/bronze")
            check_bronze(validator, feed, rows)
            routed = route(conform(feed, rows, roster_silver, ctx, key), quality.row_rules(f"silver.{feed}"), rule_ctx)
            classified = outcomes.classify(routed, silver_without_batch(feed), settings.feeds.feeds[feed].on_existing)
            flagged = lake.stage(with_key_counts(classified, quality.table_rules(f"silver.{feed}")), f"{scratch}/{feed}/flagged")
            check_silver(validator, feed, flagged)
            accepted = to_silver(flagged.filter(F.col("outcome").isin(outcomes.NEW, outcomes.UPDATE)), feed)
            if feed == "roster":
                roster_silver = lake.stage(overlay(roster_silver, accepted, ["platform_id", "tenant_id"]), f"{scratch}/roster/overlay")
            if feed == "logins":
                check_activity_shares(validator, accepted)
        progress("silver.enterprise_master")
        _check_master(spark, settings, tables, validator, roster_silver)
    finally:
        lake.remove(spark, scratch)

    # --- save outputs --------------------------------------------------------------------------
    validator.record()
    return QualityResult(batch_id, validator.outcomes, validator.breaches(), validator.docs_index)


def _check_master(spark: SparkSession, settings: Settings, tables: Tables, validator: Validator, roster_silver: DataFrame | None) -> None:
    if lake.exists(spark, tables.master):
        check_master(validator, lake.read(spark, tables.master))
    elif roster_silver is not None:
        check_master(validator, build_master(roster_silver, reference.to_dataframe(spark, settings.reference_dir, "provinces")))
