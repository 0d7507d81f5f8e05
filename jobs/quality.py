"""iiap quality: run the suites of conf/quality.yaml on an ingested batch, on its own.

Load (the batch's bronze rows, silver without the batch) -> process (the per-feed
pipeline of etl.pipeline, exactly as ingest runs it) -> save (ops/quality_history, Data
Docs). Nothing else is written: quarantine and silver stay as ingest left them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import lake, reference
from etl.catalog import Tables
from etl.config import FEED_NAMES, Settings
from etl.master import build_master
from etl.pipeline import FeedPipeline, validate_feed
from etl.pseudonym import key_from_env
from etl.spark import local_frame
from quality.runner import Outcome, Validator
from quality.spec import QualitySpec, load_quality
from quality.suites import check_master


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
    batches = lake.read(spark, tables.batches)
    # a batch of re-sent or wholly quarantined files commits, but lands no rows to validate
    landed = (
        lake.read(spark, tables.audit).filter("rows_read > 0").select("batch_id").distinct()
        if lake.exists(spark, tables.audit)
        else local_frame(spark, [], "batch_id string")
    )
    done = (
        batches.filter("status = 'committed' AND files > 0")
        .join(landed, on="batch_id", how="left_semi")
        .orderBy(F.col("at").desc())
        .limit(1)
        .collect()
    )
    if not done:
        raise UnknownBatch(f"no committed batch with rows in {tables.batches}")
    return done[0]["batch_id"]


def batch_bronze(spark: SparkSession, tables: Tables, batch_id: str) -> dict[str, DataFrame]:
    """The batch's bronze rows of every feed it carries (a batch need not carry every feed)."""
    in_lake = {f: lake.read(spark, tables.bronze(f)) for f in FEED_NAMES if lake.exists(spark, tables.bronze(f))}
    bronze = {feed: rows.filter(F.col("batch_id") == batch_id) for feed, rows in in_lake.items()}
    bronze = {feed: rows for feed, rows in bronze.items() if not rows.isEmpty()}
    if not bronze:
        raise UnknownBatch(f"batch {batch_id} has no rows in bronze")
    return bronze


def silver_without(spark: SparkSession, tables: Tables, feed: str, batch_id: str) -> DataFrame | None:
    """Silver as the batch found it: its own rows left out."""
    path = tables.silver(feed)
    return lake.read(spark, path).filter(F.col("batch_id") != batch_id) if lake.exists(spark, path) else None


def validate_batch(
    spark: SparkSession,
    settings: Settings,
    bronze: dict[str, DataFrame],
    pipeline: FeedPipeline,
    batch_id: str,
    progress,
) -> None:
    """Every feed of the batch through the ingest pipeline (staged as ingest stages it), then the master."""
    tables = Tables(settings)
    roster = silver_without(spark, tables, "roster", batch_id)
    for feed, rows in bronze.items():
        progress(f"{feed}: bronze.{feed} and silver.{feed}")
        staged = pipeline.stage(rows, f"{feed}/bronze")
        roster = validate_feed(pipeline, feed, staged, silver_without(spark, tables, feed, batch_id), roster).roster
    progress("silver.enterprise_master")
    if lake.exists(spark, tables.master):
        check_master(pipeline.validator, lake.read(spark, tables.master))
    elif roster is not None:
        check_master(
            pipeline.validator, build_master(roster, reference.to_dataframe(spark, settings.reference_dir, "provinces"))
        )


def run(
    spark: SparkSession,
    settings: Settings,
    batch_id: str | None = None,
    progress=lambda msg: None,
    quality: QualitySpec | None = None,
) -> QualityResult:
    tables = Tables(settings)
    with tables.hold(spark, "quality", progress=progress):
        quality = quality or load_quality(settings)
        key = key_from_env(settings.pipeline.ingest.pseudonym_key_env)
        batch_id = batch_id or latest_batch(spark, tables)
        bronze = batch_bronze(spark, tables, batch_id)
        validator = Validator.for_run(spark, settings, quality, batch_id, "quality")
        with lake.scratch(spark, tables.staging(f"quality-{batch_id}")) as stage:
            validate_batch(
                spark, settings, bronze, FeedPipeline.for_batch(settings, validator, key, stage), batch_id, progress
            )
        validator.record()
    return QualityResult(batch_id, validator.outcomes, validator.breaches(), validator.docs_index)
