"""iiap ingest: new landing files -> bronze -> silver (+ quarantine), reconciled and audited.

Load inputs (landing listing, file manifest, rosters) -> process (parse, conform,
classify) -> save (bronze, silver, quarantine, enterprise master, audit, manifest).
A batch is all-or-nothing: its start records every table's version, and an
unfinished batch is rolled back to them by `--recover`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl import lake, outcomes, reference
from etl.bronze import read_raw, to_bronze
from etl.config import FEED_NAMES, Settings
from etl.landing import LandingFile, discover
from etl.master import build_master
from etl.pseudonym import key_from_env
from etl.silver import ConformContext, conform, overlay, to_silver
from etl.tables import PARTITIONS, QUARANTINE_SCHEMA, Tables
from jobs import reference as reference_job
from quality.suites import check_activity_shares, check_bronze, check_master, check_silver
from quality.routing import route
from quality.context import RuleContext
from quality.forms import with_key_counts
from quality.runner import Outcome, QualityGateFailed, Validator
from quality.spec import QualitySpec, load_quality, quality_context_root



class IncompleteBatch(RuntimeError):
    """An earlier batch started and never committed."""


class ReconciliationError(RuntimeError):
    """Rows read do not equal rows written + quarantined + duplicates."""


@dataclass
class FeedCounts:
    files: int = 0
    rows_read: int = 0
    new: int = 0
    update: int = 0
    quarantine: int = 0
    duplicate_in_batch: int = 0
    duplicate_existing: int = 0
    split_mismatch: int = 0  # platforms whose classified rows differ from their bronze rows

    @property
    def duplicates(self) -> int:
        return self.duplicate_in_batch + self.duplicate_existing

    @property
    def reconciled(self) -> bool:
        return self.split_mismatch == 0 and self.rows_read == self.new + self.update + self.quarantine + self.duplicates


@dataclass
class IngestResult:
    batch_id: str | None
    files: int = 0
    unrecognised: int = 0
    feeds: dict[str, FeedCounts] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    quality: list[Outcome] = field(default_factory=list)
    quality_docs: str | None = None


BATCH_SCHEMA = T.StructType(
    [
        T.StructField("batch_id", T.StringType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("at", T.TimestampType(), False),
        T.StructField("files", T.IntegerType(), False),
        T.StructField("table_versions", T.MapType(T.StringType(), T.LongType()), True),
    ]
)
MANIFEST_SCHEMA = T.StructType(
    [
        T.StructField("path", T.StringType(), False),
        T.StructField("relative_path", T.StringType(), False),
        T.StructField("platform_id", T.StringType(), True),
        T.StructField("feed", T.StringType(), True),
        T.StructField("delivery_date", T.DateType(), True),
        T.StructField("size_bytes", T.LongType(), False),
        T.StructField("mtime_ms", T.LongType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("batch_id", T.StringType(), False),
        T.StructField("ingested_at", T.TimestampType(), False),
    ]
)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def _batch_id(files: list[LandingFile], at: datetime) -> str:
    digest = hashlib.sha256("\n".join(f"{f.path}|{f.size}|{f.mtime_ms}" for f in files).encode()).hexdigest()[:8]
    return f"{at:%Y%m%dT%H%M%SZ}-{digest}"


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
        lake.append(spark.createDataFrame([(row["batch_id"], "rolled_back", _now(), row["files"], None)], BATCH_SCHEMA), tables.batches)
        lake.append(spark.createDataFrame([(row["batch_id"], "committed", _now(), 0, None)], BATCH_SCHEMA), tables.batches)
        undone.append(row["batch_id"])
    return undone


def _ingested_paths(spark: SparkSession, tables: Tables) -> set[tuple[str, int, int]]:
    if not lake.exists(spark, tables.manifest):
        return set()
    return {(r.path, r.size_bytes, r.mtime_ms) for r in lake.read(spark, tables.manifest).select("path", "size_bytes", "mtime_ms").collect()}


def _count_by_platform(spark: SparkSession, path: str, batch_id: str) -> dict[str, int]:
    if not lake.exists(spark, path):
        return {}
    rows = lake.read(spark, path).filter(F.col("batch_id") == batch_id).groupBy("platform_id").count().collect()
    return {r.platform_id: r["count"] for r in rows}


@dataclass
class _Staged:
    """A feed's batch, parsed, conformed, routed and validated, waiting for the gates."""

    platforms: dict[str, list[LandingFile]]
    bronze: DataFrame
    flagged: DataFrame
    by_platform: dict[str, dict[str, int]]


def run(
    spark: SparkSession,
    settings: Settings,
    until: date | None = None,
    recover_incomplete: bool = False,
    progress=lambda msg: None,
    quality: QualitySpec | None = None,
) -> IngestResult:
    """Ingest the new landing files as one batch. Its scratch is removed however it ends."""
    scratch: list[str] = []
    try:
        return _run(spark, settings, until, recover_incomplete, progress, quality, scratch)
    finally:
        for path in scratch:
            lake.remove(spark, path)


def _run(spark, settings, until, recover_incomplete, progress, quality, scratch: list[str]) -> IngestResult:
    tables = Tables(settings)
    key = key_from_env(settings.pipeline.ingest.pseudonym_key_env)
    quality = quality or load_quality(settings)

    # --- load inputs ---------------------------------------------------------------------------
    incomplete = _incomplete(spark, tables)
    if incomplete and not recover_incomplete:
        ids = ", ".join(f"{r['batch_id']} (started {r['at']})" for r in incomplete)
        raise IncompleteBatch(f"batch {ids} did not finish; if no other ingest is running, rerun with --recover to roll it back")
    if incomplete:
        progress(f"rolled back unfinished batches: {', '.join(recover(spark, tables))}")
    progress(f"listing {settings.landing}")
    seen = _ingested_paths(spark, tables)
    files = [
        f
        for f in discover(settings.landing, settings.pipeline.ingest.landing_pattern, settings.contracts, FEED_NAMES)
        if (f.path, f.size, f.mtime_ms) not in seen and (until is None or f.delivery_date is None or f.delivery_date <= until)
    ]
    if not files:
        progress("no new files: nothing to do")
        return IngestResult(batch_id=None)
    started = _now()
    batch_id = _batch_id(files, started)
    versions = {path: lake.version(spark, path) for path in tables.written_by_ingest()}
    lake.append(spark.createDataFrame([(batch_id, "started", started, len(files), {k: v for k, v in versions.items() if v is not None})], BATCH_SCHEMA), tables.batches)
    progress(f"batch {batch_id}: {len(files)} new files")
    reference_job.run(spark, settings)
    ctx = ConformContext.from_settings(settings)
    rule_ctx = RuleContext.from_settings(settings)
    validator = Validator(spark, quality, rule_ctx, quality_context_root(settings, quality), tables.quality_history, batch_id, "ingest")
    readable = [f for f in files if f.problem is None]
    unrecognised = [f for f in files if f.problem is not None]
    by_feed: dict[str, dict[str, list[LandingFile]]] = defaultdict(lambda: defaultdict(list))
    for f in readable:
        by_feed[f.feed][f.platform_id].append(f)
    result = IngestResult(batch_id=batch_id, files=len(files), unrecognised=len(unrecognised))
    lineage = [F.lit(batch_id).alias("batch_id"), F.lit(started).alias("ingested_at")]
    roster_path = tables.silver("roster")
    roster_silver = lake.read(spark, roster_path) if lake.exists(spark, roster_path) else None
    staging = tables.staging(batch_id)
    scratch.append(staging)

    def stage(frame: DataFrame, name: str) -> DataFrame:
        # every check and the final write read the staged rows: parsed and conformed once, held on disk, not in memory
        return lake.stage(frame, f"{staging}/{name}")

    # --- process: parse, conform, route and validate every feed; nothing downstream is written yet ---
    staged: dict[str, _Staged] = {}
    for i, feed in enumerate(FEED_NAMES, start=1):
        platforms = by_feed.get(feed, {})
        result.feeds[feed] = FeedCounts(files=sum(len(v) for v in platforms.values()))
        if not platforms:
            continue
        step = f"[{i}/{len(FEED_NAMES)}] {feed}"
        progress(f"{step}: reading {result.feeds[feed].files} files from {len(platforms)} platforms")
        spec = settings.feeds.feeds[feed]
        parts = [to_bronze(read_raw(spark, fs, settings.contracts[pid]), settings.contracts[pid], feed, spec) for pid, fs in sorted(platforms.items())]
        bronze = stage(reduce(DataFrame.unionByName, parts).select(*lineage, "*"), f"{feed}/bronze")
        progress(f"{step}: validating bronze.{feed}")
        check_bronze(validator, feed, bronze)

        progress(f"{step}: conforming, routing and validating silver.{feed}")
        silver_path = tables.silver(feed)
        existing = lake.read(spark, silver_path) if lake.exists(spark, silver_path) else None
        candidates = conform(feed, bronze, roster_silver, ctx, key)
        routed = route(candidates, quality.row_rules(f"silver.{feed}"), rule_ctx)
        # the unique rules' key counts ride on deduplication's shuffle by record_key
        flagged = stage(with_key_counts(outcomes.classify(routed, existing, spec.on_existing), quality.table_rules(f"silver.{feed}")), f"{feed}/flagged")
        check_silver(validator, feed, flagged)
        accepted = to_silver(flagged.filter(F.col("outcome").isin(outcomes.NEW, outcomes.UPDATE)), feed)
        if feed == "roster":
            roster_silver = stage(overlay(roster_silver, accepted, ["platform_id", "tenant_id"]), "roster/overlay")
        if feed == "logins":
            check_activity_shares(validator, accepted)
        staged[feed] = _Staged(platforms, bronze, flagged, outcomes.count_outcomes(flagged))
        if validator.breaches():  # a gate stops the batch at once: later feeds would not be written anyway
            break

    master = None
    roster_counts = staged["roster"].by_platform.values() if "roster" in staged else []
    if not validator.breaches() and any(c[outcomes.NEW] or c[outcomes.UPDATE] for c in roster_counts):
        progress("building and validating the enterprise master")
        provinces = reference.to_dataframe(spark, settings.reference_dir, "provinces")
        master = stage(build_master(roster_silver, provinces), "enterprise_master")
        check_master(validator, master)
    validator.record()
    result.quality_docs = validator.docs_index
    result.quality = validator.outcomes
    breaches = validator.breaches()
    if breaches:
        lake.append(spark.createDataFrame([(batch_id, "rejected", _now(), len(files), None)], BATCH_SCHEMA), tables.batches)
        raise QualityGateFailed(batch_id, breaches)

    # --- save outputs: bronze, quarantine, silver per feed, each reconciled against what was written ---
    audit_rows = []
    for i, (feed, st) in enumerate(staged.items(), start=1):
        progress(f"writing {feed}: bronze, quarantine, silver")
        counts = result.feeds[feed]
        lake.append(st.bronze, tables.bronze(feed), PARTITIONS["bronze"])
        landed = _count_by_platform(spark, tables.bronze(feed), batch_id)
        quarantined = st.flagged.filter(F.col("outcome") == outcomes.QUARANTINE).select(
            "batch_id", F.lit(feed).alias("feed"), "platform_id", "source_file", "delivery_date", "raw_record", "reason_code", "reason_detail", F.lit(started).alias("quarantined_at")
        )
        lake.append(quarantined, tables.quarantine)
        silver_path = tables.silver(feed)
        keep = to_silver(st.flagged.filter(F.col("outcome").isin(outcomes.NEW, outcomes.UPDATE)), feed)
        if feed == "roster":
            lake.upsert(spark, keep, silver_path, ("platform_id", "tenant_id"))
        else:
            lake.append(keep, silver_path, PARTITIONS["silver"])

        # counts re-read from the written tables, so a lost or doubled write cannot reconcile
        written = _count_by_platform(spark, silver_path, batch_id)
        parked = {
            r.platform_id: r["count"]
            for r in lake.read(spark, tables.quarantine).filter((F.col("batch_id") == batch_id) & (F.col("feed") == feed)).groupBy("platform_id").count().collect()
        }
        empty = dict.fromkeys(("rows_read", outcomes.NEW, outcomes.UPDATE, outcomes.QUARANTINE, outcomes.DUP_IN_BATCH, outcomes.DUP_EXISTING), 0)
        for pid in sorted(set(landed) | set(st.by_platform)):
            c = st.by_platform.get(pid, empty)
            inserted = written.get(pid, 0) - c[outcomes.UPDATE]
            parked_rows = parked.get(pid, 0)
            # rows read are the bronze rows of the batch; a row lost or multiplied on the way to the split cannot reconcile
            read = landed.get(pid, 0)
            counts.rows_read += read
            counts.new += inserted
            counts.update += c[outcomes.UPDATE]
            counts.quarantine += parked_rows
            counts.duplicate_in_batch += c[outcomes.DUP_IN_BATCH]
            counts.duplicate_existing += c[outcomes.DUP_EXISTING]
            ok = read == c["rows_read"] == inserted + c[outcomes.UPDATE] + parked_rows + c[outcomes.DUP_IN_BATCH] + c[outcomes.DUP_EXISTING]
            counts.split_mismatch += read != c["rows_read"]
            audit_rows.append(
                (batch_id, feed, pid, len(st.platforms.get(pid, [])), read, inserted, c[outcomes.UPDATE], parked_rows,
                 c[outcomes.DUP_IN_BATCH], c[outcomes.DUP_EXISTING], ok, started, _now())
            )
        if not counts.reconciled:
            raise ReconciliationError(
                f"batch {batch_id} feed {feed}: read {counts.rows_read} rows but wrote {counts.new + counts.update} to silver, "
                f"{counts.quarantine} to quarantine and removed {counts.duplicates} duplicates"
                f"{f' ({counts.split_mismatch} platforms lost or multiplied rows after bronze)' if counts.split_mismatch else ''}; "
                "the batch stays uncommitted (run ingest --recover)"
            )

    # --- save: files that fit no contract, master, audit, manifest, commit -----------------------
    if unrecognised:
        rows = [(batch_id, f.feed, f.platform_id, f.path, f.delivery_date, None, "unrecognised_file", f.problem, started) for f in unrecognised]
        lake.append(spark.createDataFrame(rows, QUARANTINE_SCHEMA), tables.quarantine)
    if master is not None:
        progress("writing the enterprise master")
        lake.overwrite(master, tables.master)
    audit_schema = (
        "batch_id string, feed string, platform_id string, files int, rows_read long, inserted long, updated long, quarantined long, "
        "duplicates_in_batch long, duplicates_existing long, reconciled boolean, started_at timestamp, finished_at timestamp"
    )
    if audit_rows:
        lake.append(spark.createDataFrame(audit_rows, audit_schema), tables.audit)
    manifest = [
        (f.path, f.relative, f.platform_id, f.feed, f.delivery_date, f.size, f.mtime_ms, "ingested" if f.problem is None else "unrecognised", batch_id, started) for f in files
    ]
    lake.append(spark.createDataFrame(manifest, MANIFEST_SCHEMA), tables.manifest)
    lake.append(spark.createDataFrame([(batch_id, "committed", _now(), len(files), None)], BATCH_SCHEMA), tables.batches)
    result.tables = {name: path for name, path in (("bronze", tables.bronze("")), ("silver", tables.silver("")), ("quarantine", tables.quarantine), ("audit", tables.audit))}
    return result
