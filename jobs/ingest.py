"""iiap ingest: new landing files -> bronze -> silver (+ quarantine), reconciled and audited.

Load (the new landing files) -> process (parse, conform, route and validate every feed:
etl.pipeline) -> save (bronze, quarantine, silver, enterprise master, audit, manifest).
A batch is all-or-nothing: its start records every table's version, and an unfinished
batch is rolled back to them by `--recover`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import lake, reference
from etl.bronze import read_raw, to_bronze
from etl.catalog import Tables
from etl.config import FEED_NAMES, Settings
from etl.landing import LandingFile, discover
from etl.master import build_master
from etl.outcomes import count_outcomes
from etl.pipeline import FeedPipeline, ValidatedFeed, validate_feed
from etl.pseudonym import key_from_env
from etl.reconcile import FeedCounts, reconcile
from jobs import reference as reference_job
from quality.runner import Outcome, QualityGateFailed, Validator
from quality.spec import QualitySpec, load_quality
from quality.suites import check_master


class IncompleteBatch(RuntimeError):
    """An earlier batch started and never committed."""


class ReconciliationError(RuntimeError):
    """Rows read do not equal rows written + quarantined + duplicates."""


@dataclass
class IngestResult:
    batch_id: str | None
    files: int = 0
    unrecognised: int = 0
    feeds: dict[str, FeedCounts] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    quality: list[Outcome] = field(default_factory=list)
    quality_docs: str | None = None


@dataclass(frozen=True)
class Batch:
    id: str
    started: datetime
    files: list[LandingFile]

    @property
    def readable(self) -> list[LandingFile]:
        return [f for f in self.files if f.problem is None]

    @property
    def unrecognised(self) -> list[LandingFile]:
        return [f for f in self.files if f.problem is not None]

    def by_feed(self) -> dict[str, dict[str, list[LandingFile]]]:
        """Readable files by feed, then platform."""
        out: dict[str, dict[str, list[LandingFile]]] = defaultdict(lambda: defaultdict(list))
        for f in self.readable:
            out[f.feed][f.platform_id].append(f)
        return out


@dataclass
class Processed:
    """Every feed of the batch validated (in feed order), and the master when rosters changed."""

    feeds: dict[str, ValidatedFeed]
    files: dict[str, dict[str, list[LandingFile]]]
    master: DataFrame | None
    validator: Validator


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def batch_id_of(files: list[LandingFile], at: datetime) -> str:
    digest = hashlib.sha256("\n".join(f"{f.path}|{f.size}|{f.mtime_ms}" for f in files).encode()).hexdigest()[:8]
    return f"{at:%Y%m%dT%H%M%SZ}-{digest}"


def _mark(
    spark: SparkSession, tables: Tables, batch_id: str, status: str, files: int, versions: dict | None = None
) -> None:
    tables.write(tables.rows(spark, "ops.batches", [(batch_id, status, _now(), files, versions)]), "ops.batches")


def _incomplete(spark: SparkSession, tables: Tables) -> list:
    if not lake.exists(spark, tables.batches):
        return []
    b = lake.read(spark, tables.batches)
    done = b.filter("status IN ('committed', 'rejected')").select("batch_id")
    return b.filter("status = 'started'").join(done, on="batch_id", how="left_anti").collect()


def recover(spark: SparkSession, tables: Tables) -> list[str]:
    """Roll every unfinished batch's tables back to the versions recorded when it started."""
    undone = []
    for row in _incomplete(spark, tables):
        versions = row["table_versions"] or {}
        for path in tables.written_by_ingest():
            lake.restore_or_delete(spark, path, versions.get(path), row["batch_id"])
        _mark(spark, tables, row["batch_id"], "rolled_back", row["files"])
        _mark(spark, tables, row["batch_id"], "committed", 0)
        undone.append(row["batch_id"])
    return undone


def settle_incomplete(spark: SparkSession, tables: Tables, recover_incomplete: bool, progress) -> None:
    """Refuse to start over an unfinished batch, unless told to roll it back first."""
    incomplete = _incomplete(spark, tables)
    if incomplete and not recover_incomplete:
        ids = ", ".join(f"{r['batch_id']} (started {r['at']})" for r in incomplete)
        raise IncompleteBatch(
            f"batch {ids} did not finish; if no other ingest is running, rerun with --recover to roll it back"
        )
    if incomplete:
        progress(f"rolled back unfinished batches: {', '.join(recover(spark, tables))}")


def new_files(spark: SparkSession, settings: Settings, tables: Tables, until: date | None) -> list[LandingFile]:
    """Landing files not in the manifest yet (same path, size and time), delivered up to `until`."""
    seen: set[tuple[str, int, int]] = set()
    if lake.exists(spark, tables.manifest):
        rows = lake.read(spark, tables.manifest).select("path", "size_bytes", "mtime_ms").collect()
        seen = {(r.path, r.size_bytes, r.mtime_ms) for r in rows}
    found = discover(settings.landing, settings.pipeline.ingest.landing_pattern, settings.contracts, FEED_NAMES)
    return [
        f
        for f in found
        if (f.path, f.size, f.mtime_ms) not in seen
        and (until is None or f.delivery_date is None or f.delivery_date <= until)
    ]


def open_batch(spark: SparkSession, tables: Tables, files: list[LandingFile]) -> Batch:
    """Record the batch as started, with the version of every table it may write (what --recover restores)."""
    started = _now()
    batch = Batch(batch_id_of(files, started), started, files)
    versions = {path: lake.version(spark, path) for path in tables.written_by_ingest()}
    _mark(spark, tables, batch.id, "started", len(files), {k: v for k, v in versions.items() if v is not None})
    return batch


def read_bronze(
    spark: SparkSession, settings: Settings, batch: Batch, feed: str, platforms: dict[str, list[LandingFile]]
) -> DataFrame:
    """The feed's files of every platform, read through each platform's contract, with the batch's lineage."""
    spec = settings.feeds.feeds[feed]
    parts = [
        to_bronze(read_raw(spark, fs, settings.contracts[pid]), settings.contracts[pid], feed, spec)
        for pid, fs in sorted(platforms.items())
    ]
    lineage = [F.lit(batch.id).alias("batch_id"), F.lit(batch.started).alias("ingested_at")]
    return reduce(DataFrame.unionByName, parts).select(*lineage, "*")


def process(spark: SparkSession, settings: Settings, batch: Batch, pipeline: FeedPipeline, progress) -> Processed:
    """Parse, conform, route and validate every feed, then the master; nothing downstream is written yet."""
    tables, files = Tables(settings), batch.by_feed()
    roster = lake.read_if_exists(spark, tables.silver("roster"))
    done: dict[str, ValidatedFeed] = {}
    for i, feed in enumerate(FEED_NAMES, start=1):
        platforms = files.get(feed, {})
        if not platforms:
            continue
        step = f"[{i}/{len(FEED_NAMES)}] {feed}"
        progress(f"{step}: reading {sum(len(v) for v in platforms.values())} files from {len(platforms)} platforms")
        bronze = pipeline.stage(read_bronze(spark, settings, batch, feed, platforms), f"{feed}/bronze")
        progress(f"{step}: validating bronze.{feed}, conforming, routing and validating silver.{feed}")
        done[feed] = validate_feed(pipeline, feed, bronze, lake.read_if_exists(spark, tables.silver(feed)), roster)
        roster = done[feed].roster
        if pipeline.validator.breaches():  # a gate stops the batch at once: later feeds would not be written anyway
            break
    master = None
    if not pipeline.validator.breaches() and "roster" in done and not done["roster"].accepted().isEmpty():
        progress("building and validating the enterprise master")
        master = pipeline.stage(
            build_master(roster, reference.to_dataframe(spark, settings.reference_dir, "provinces")),
            "enterprise_master",
        )
        check_master(pipeline.validator, master)
    return Processed(done, files, master, pipeline.validator)


def _count_by_platform(frame: DataFrame) -> dict[str, int]:
    return {r.platform_id: r["count"] for r in frame.groupBy("platform_id").count().collect()}


def _written(spark: SparkSession, path: str, batch_id: str, feed: str | None = None) -> dict[str, int]:
    """Rows of the batch per platform, re-read from the table as written."""
    if not lake.exists(spark, path):
        return {}
    rows = lake.read(spark, path).filter(F.col("batch_id") == batch_id)
    return _count_by_platform(rows.filter(F.col("feed") == feed) if feed else rows)


def save_feed(spark: SparkSession, tables: Tables, batch: Batch, v: ValidatedFeed, files: dict[str, list[LandingFile]]):
    """Write the feed's bronze, quarantine and silver, then reconcile them against what was written."""
    split = count_outcomes(v.flagged)
    tables.write(v.bronze, f"bronze.{v.feed}")
    quarantined = v.quarantined().select(
        "batch_id",
        F.lit(v.feed).alias("feed"),
        "platform_id",
        "source_file",
        "delivery_date",
        "raw_record",
        "reason_code",
        "reason_detail",
        F.lit(batch.started).alias("quarantined_at"),
    )
    tables.write(quarantined, "quarantine.records")
    tables.write(v.accepted(), f"silver.{v.feed}")
    return reconcile(
        batch.id,
        v.feed,
        {pid: len(fs) for pid, fs in files.items()},
        landed=_written(spark, tables.bronze(v.feed), batch.id),
        split=split,
        written=_written(spark, tables.silver(v.feed), batch.id),
        parked=_written(spark, tables.quarantine, batch.id, v.feed),
        started=batch.started,
        finished=_now(),
    )


def gate(spark: SparkSession, tables: Tables, batch: Batch, validator: Validator) -> IngestResult:
    """Record the batch's validations; a breached gate rejects the batch before anything downstream is written."""
    validator.record()
    if validator.breaches():
        _mark(spark, tables, batch.id, "rejected", len(batch.files))
        raise QualityGateFailed(batch.id, validator.breaches())
    by_feed = batch.by_feed()
    feeds = {feed: FeedCounts(files=sum(len(v) for v in by_feed.get(feed, {}).values())) for feed in FEED_NAMES}
    return IngestResult(
        batch.id,
        len(batch.files),
        len(batch.unrecognised),
        feeds,
        quality=validator.outcomes,
        quality_docs=validator.docs_index,
    )


def save(
    spark: SparkSession, tables: Tables, batch: Batch, processed: Processed, result: IngestResult, progress
) -> None:
    """Every table of the batch, the audit and the manifest, then the commit mark."""
    audit = []
    for feed, v in processed.feeds.items():
        progress(f"writing {feed}: bronze, quarantine, silver")
        rec = save_feed(spark, tables, batch, v, processed.files.get(feed, {}))
        result.feeds[feed] = rec.counts
        audit += [row.as_tuple() for row in rec.audit]
        if not rec.counts.reconciled:
            raise ReconciliationError(rec.counts.problem(batch.id, feed))
    if batch.unrecognised:
        rows = [
            (
                batch.id,
                f.feed,
                f.platform_id,
                f.path,
                f.delivery_date,
                None,
                "unrecognised_file",
                f.problem,
                batch.started,
            )
            for f in batch.unrecognised
        ]
        tables.write(tables.rows(spark, "quarantine.records", rows), "quarantine.records")
    if processed.master is not None:
        progress("writing the enterprise master")
        tables.write(processed.master, "silver.enterprise_master")
    if audit:
        tables.write(tables.rows(spark, "ops.ingest_audit", audit), "ops.ingest_audit")
    manifest = [
        (
            f.path,
            f.relative,
            f.platform_id,
            f.feed,
            f.delivery_date,
            f.size,
            f.mtime_ms,
            "ingested" if f.problem is None else "unrecognised",
            batch.id,
            batch.started,
        )
        for f in batch.files
    ]
    tables.write(tables.rows(spark, "ops.file_manifest", manifest), "ops.file_manifest")
    _mark(spark, tables, batch.id, "committed", len(batch.files))
    result.tables = {
        "bronze": tables.layer("bronze"),
        "silver": tables.layer("silver"),
        "quarantine": tables.quarantine,
        "audit": tables.audit,
    }


def run(
    spark: SparkSession,
    settings: Settings,
    until: date | None = None,
    recover_incomplete: bool = False,
    progress=lambda msg: None,
    quality: QualitySpec | None = None,
) -> IngestResult:
    """Ingest the new landing files as one batch. Its scratch is removed however it ends."""
    tables = Tables(settings)
    key = key_from_env(settings.pipeline.ingest.pseudonym_key_env)
    quality = quality or load_quality(settings)
    settle_incomplete(spark, tables, recover_incomplete, progress)
    progress(f"listing {settings.landing}")
    files = new_files(spark, settings, tables, until)
    if not files:
        progress("no new files: nothing to do")
        return IngestResult(batch_id=None)
    batch = open_batch(spark, tables, files)
    progress(f"batch {batch.id}: {len(files)} new files")
    reference_job.run(spark, settings)
    validator = Validator.for_run(spark, settings, quality, batch.id, "ingest")
    with lake.scratch(spark, tables.staging(batch.id)) as stage:
        processed = process(spark, settings, batch, FeedPipeline.for_batch(settings, validator, key, stage), progress)
        result = gate(spark, tables, batch, validator)
        save(spark, tables, batch, processed, result, progress)
    return result
