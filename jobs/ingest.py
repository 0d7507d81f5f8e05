"""iiap ingest: new landing files -> bronze -> silver (+ quarantine), reconciled and audited.

Load (the new landing files) -> process (parse, conform, route and validate every feed:
etl.pipeline) -> save (bronze, quarantine, silver, enterprise master, audit, manifest).
A batch is all-or-nothing: its start records every table's version, and an unfinished
batch is rolled back to them by `--recover`.
"""

from __future__ import annotations

import os
import secrets
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
from etl.file_check import FileFormat, check_files
from etl.landing import LandingFile, discover
from etl.manifest import INGESTED, QUARANTINED, RESENT, Entry, Known, retry_problems, settle, to_check
from etl.master import build_master
from etl.outcomes import count_outcomes
from etl.pipeline import FeedPipeline, ValidatedFeed, validate_feed
from etl.pseudonym import KeyChanged, fingerprint, key_from_env
from etl.reconcile import FeedCounts, reconcile
from jobs import reference as reference_job
from quality.runner import Outcome, QualityGateFailed, Validator
from quality.spec import QualitySpec, load_quality
from quality.suites import check_landing_files, check_master


class IncompleteBatch(RuntimeError):
    """An earlier batch started and never committed."""


class ReconciliationError(RuntimeError):
    """Rows read do not equal rows written + quarantined + duplicates."""


@dataclass
class IngestResult:
    batch_id: str | None
    files: int = 0
    quarantined_files: dict[str, int] = field(default_factory=dict)  # reason code -> files
    resent: int = 0
    feeds: dict[str, FeedCounts] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    quality: list[Outcome] = field(default_factory=list)
    quality_docs: str | None = None


@dataclass(frozen=True)
class Batch:
    id: str
    started: datetime
    settled: list[tuple[LandingFile, str]]  # every new file with its status (etl.manifest)
    key_fingerprint: str | None = None  # etl.pseudonym.fingerprint of the batch's key

    @property
    def files(self) -> list[LandingFile]:
        return [f for f, _ in self.settled]

    def having(self, status: str) -> list[LandingFile]:
        return [f for f, s in self.settled if s == status]

    @property
    def readable(self) -> list[LandingFile]:
        return self.having(INGESTED)

    @property
    def quarantined(self) -> list[LandingFile]:
        return self.having(QUARANTINED)

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


def batch_id_of(at: datetime) -> str:
    """Sortable by start time, and unique even for runs started in the same second."""
    return f"{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def _mark(
    spark: SparkSession,
    tables: Tables,
    batch_id: str,
    status: str,
    files: int,
    versions: dict | None = None,
    key: str | None = None,
) -> None:
    row = (batch_id, status, _now(), files, versions, key)
    tables.write(tables.rows(spark, "ops.batches", [row]), "ops.batches")


def check_key(spark: SparkSession, tables: Tables, key: bytes, rotate: bool) -> str:
    """The key's fingerprint, if it is the one the lakehouse's last batch used (or `rotate` says it replaces it):
    a new key would give the same users other user_keys than every earlier batch."""
    mine = fingerprint(key)
    if rotate or not lake.exists(spark, tables.batches):
        return mine
    last = (
        lake.read(spark, tables.batches)
        .filter(F.col("key_fingerprint").isNotNull())
        .orderBy(F.col("at").desc())
        .select("key_fingerprint")
        .first()
    )
    if last is not None and last[0] != mine:
        raise KeyChanged(
            f"the pseudonymisation key is not the one this lakehouse's batches used (fingerprint {last[0]}, this "
            f"key's {mine}): the same users would get other user_keys; if this is a deliberate key rotation, rerun "
            "with --rotate-key"
        )
    return mine


def recover(spark: SparkSession, tables: Tables) -> list[str]:
    """Roll every unfinished batch's tables back to the versions recorded when it started."""
    undone = []
    for row in tables.unfinished_batches(spark):
        versions = row["table_versions"] or {}
        for path in tables.written_by_ingest():
            lake.restore(spark, path, versions.get(path))
        lake.remove(spark, tables.staging(row["batch_id"]))  # scratch a killed run left behind
        _mark(spark, tables, row["batch_id"], "rolled_back", row["files"])
        _mark(spark, tables, row["batch_id"], "committed", 0)
        undone.append(row["batch_id"])
    return undone


def settle_incomplete(spark: SparkSession, tables: Tables, recover_incomplete: bool, progress) -> None:
    """Refuse to start over an unfinished batch, unless told to roll it back first."""
    incomplete = tables.unfinished_batches(spark)
    if incomplete and not recover_incomplete:
        ids = ", ".join(f"{r['batch_id']} (started {r['at']})" for r in incomplete)
        raise IncompleteBatch(f"batch {ids} did not finish; rerun with --recover to roll it back")
    if incomplete:
        progress(f"rolled back unfinished batches: {', '.join(recover(spark, tables))}")


class BadRetry(ValueError):
    """--retry names a file that is not under the landing root, or one already ingested."""


def _known(spark: SparkSession, tables: Tables) -> Known:
    if not lake.exists(spark, tables.manifest):
        return Known()
    cols = ["path", "relative_path", "platform_id", "feed", "delivery_date", "size_bytes", "mtime_ms"]
    rows = lake.read(spark, tables.manifest).select(*cols, "content_hash", "status", "batch_id").collect()
    return Known.of([Entry(*r) for r in rows])


def _file_format(settings: Settings, f: LandingFile) -> FileFormat | None:
    """What the file check needs of the file's contract; None for a file no contract reads (hashed only)."""
    if not f.readable:
        return None
    c, limits = settings.contracts[f.platform_id], settings.pipeline.ingest
    fields = tuple(c.fields.get(f.feed, {}).values())
    return FileFormat(
        c.format,
        c.compression,
        c.encoding,
        c.delimiter,
        fields,
        limits.max_line_bytes,
        limits.max_columns,
        limits.max_record_lines,
    )


def new_files(
    spark: SparkSession, settings: Settings, tables: Tables, until: date | None, retry: frozenset[str] = frozenset()
) -> list[tuple[LandingFile, str]]:
    """The landing files delivered up to `until` that the manifest does not hold yet, each read once to be known by
    its content and settled: to be ingested, quarantined as a file, or a re-send of a delivery already recorded."""
    known = _known(spark, tables)
    found = discover(settings.landing, settings.pipeline.ingest.landing_pattern, settings.contracts, FEED_NAMES)
    retry = frozenset(_resolve(found, p) for p in retry)
    if problems := retry_problems(retry, found, known):
        raise BadRetry("; ".join(problems))
    todo = to_check(found, known, until, retry)
    checks = check_files(spark, [(f.path, f.size, _file_format(settings, f)) for f in todo])
    return settle([f.with_check(checks[f.path]) for f in todo], known, retry)


def _resolve(found: list[LandingFile], path: str) -> str:
    """A --retry path as the manifest names it: the path as listed, or relative to the landing root."""
    for f in found:
        if path in (f.path, f.relative) or os.path.abspath(path) == f.path:
            return f.path
    return path


def open_batch(spark: SparkSession, tables: Tables, batch: Batch) -> Batch:
    """Record the batch as started, with the version of every table it may write (what --recover restores)."""
    versions = {path: lake.version(spark, path) for path in tables.written_by_ingest()}
    recorded = {k: v for k, v in versions.items() if v is not None}
    _mark(spark, tables, batch.id, "started", len(batch.settled), recorded, batch.key_fingerprint)
    return batch


def read_bronze(
    spark: SparkSession, settings: Settings, batch: Batch, feed: str, platforms: dict[str, list[LandingFile]]
) -> DataFrame:
    """The feed's files of every platform, read through each platform's contract, with the batch's lineage."""
    files = [f for _, fs in sorted(platforms.items()) for f in fs]
    contracts = {pid: settings.contracts[pid] for pid in platforms}
    lineage = [F.lit(batch.id).alias("batch_id"), F.lit(batch.started).alias("ingested_at")]
    bronze = to_bronze(read_raw(spark, files, contracts), contracts, feed, settings.feeds.feeds[feed])
    return bronze.select(*lineage, "*")


def process(spark: SparkSession, settings: Settings, batch: Batch, pipeline: FeedPipeline, progress) -> Processed:
    """Parse, conform, route and validate every feed, then the master; nothing downstream is written yet."""
    tables, files = Tables(settings), batch.by_feed()
    roster = lake.read_if_exists(spark, tables.silver("roster"))
    check_landing_files(pipeline.validator, _file_tally(batch))
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


NOT_GATED = ("unrecognised_file", "changed_redelivery")  # not a platform's unreadable delivery


def _file_tally(batch: Batch) -> list[tuple[str, int, int]]:
    """(platform, files read, files quarantined as unreadable) over the batch's files of every feed."""
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f in batch.readable:
        tally[f.platform_id][0] += 1
    for f in batch.quarantined:
        if f.reason_code not in NOT_GATED:
            tally[f.platform_id][1] += 1
    return [(pid, n, bad) for pid, (n, bad) in sorted(tally.items())]


def _written(spark: SparkSession, tables: Tables, batch_id: str, feed: str) -> dict[str, dict[str, int]]:
    """The feed's rows of the batch per platform in bronze, silver and quarantine, re-read from the tables as
    written, in one Spark job. A table that does not exist holds none."""
    paths = {"bronze": tables.bronze(feed), "silver": tables.silver(feed), "quarantine": tables.quarantine}
    parts = []
    for name, path in paths.items():
        if lake.exists(spark, path):
            rows = lake.read(spark, path).filter(F.col("batch_id") == batch_id)
            rows = rows.filter(F.col("feed") == feed) if name == "quarantine" else rows
            parts.append(rows.select(F.lit(name).alias("written_to"), "platform_id"))
    out: dict[str, dict[str, int]] = {name: {} for name in paths}
    if parts:
        for r in reduce(DataFrame.unionByName, parts).groupBy("written_to", "platform_id").count().collect():
            out[r.written_to][r.platform_id] = r["count"]
    return out


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
    return reconcile_feed(spark, tables, batch, v.feed, files, split)


def reconcile_feed(
    spark: SparkSession, tables: Tables, batch: Batch, feed: str, files: dict[str, list[LandingFile]], split=None
):
    """The feed's counts against the tables as written, and the records its files held."""
    parked_files: dict[str, int] = defaultdict(int)
    for f in batch.quarantined:
        if f.feed == feed and f.platform_id is not None:
            parked_files[f.platform_id] += 1
    counted = _written(spark, tables, batch.id, feed)
    return reconcile(
        batch.id,
        feed,
        {pid: len(fs) for pid, fs in files.items()},
        landed=counted["bronze"],
        split=split or {},
        written=counted["silver"],
        parked=counted["quarantine"],
        started=batch.started,
        finished=_now(),
        delivered={pid: sum(f.records or 0 for f in fs) for pid, fs in files.items()},
        files_quarantined=dict(parked_files),
    )


def _file_quarantine(batch: Batch) -> list[tuple]:
    """quarantine.records rows of the files quarantined whole: no raw record, the reason and its detail."""
    return [
        (batch.id, f.feed, f.platform_id, f.path, f.delivery_date, None, f.reason_code, _file_detail(f), batch.started)
        for f in batch.quarantined
    ]


def _file_detail(f: LandingFile) -> str:
    digest = f"sha256 {f.content_hash}" if f.content_hash else "no content hash"
    return f"{f.problem} [{f.size:,} bytes, {digest}]"


def _manifest_rows(batch: Batch) -> list[tuple]:
    return [
        (
            f.path,
            f.relative,
            f.platform_id,
            f.feed,
            f.delivery_date,
            f.size,
            f.mtime_ms,
            f.content_hash,
            f.records,
            status,
            f.reason_code,
            batch.id,
            batch.started,
        )
        for f, status in batch.settled
    ]


def gate(spark: SparkSession, tables: Tables, batch: Batch, validator: Validator) -> IngestResult:
    """Record the batch's validations; a breached gate rejects the batch before anything downstream is written."""
    validator.record()
    if validator.breaches():
        _mark(spark, tables, batch.id, "rejected", len(batch.files))
        raise QualityGateFailed(batch.id, validator.breaches())
    by_feed = batch.by_feed()
    feeds = {feed: FeedCounts(files=sum(len(v) for v in by_feed.get(feed, {}).values())) for feed in FEED_NAMES}
    by_reason: dict[str, int] = defaultdict(int)
    for f in batch.quarantined:
        by_reason[str(f.reason_code)] += 1
    return IngestResult(
        batch.id,
        len(batch.files),
        dict(sorted(by_reason.items())),
        len(batch.having(RESENT)),
        feeds,
        quality=validator.outcomes,
        quality_docs=validator.docs_index,
    )


def save(
    spark: SparkSession, tables: Tables, batch: Batch, processed: Processed, result: IngestResult, progress
) -> None:
    """Every table of the batch, then the audit and the manifest (the commit mark is `commit`'s)."""
    audit = []
    for feed, v in processed.feeds.items():
        progress(f"writing {feed}: bronze, quarantine, silver")
        rec = save_feed(spark, tables, batch, v, processed.files.get(feed, {}))
        result.feeds[feed] = rec.counts
        audit += [row.as_tuple() for row in rec.audit]
        if not rec.counts.reconciled:
            raise ReconciliationError(rec.counts.problem(batch.id, feed))
    if batch.quarantined:
        tables.write(tables.rows(spark, "quarantine.records", _file_quarantine(batch)), "quarantine.records")
    for feed in sorted({f.feed for f in batch.quarantined if f.feed in FEED_NAMES} - set(processed.feeds)):
        rec = reconcile_feed(spark, tables, batch, feed, {})  # every file of the feed quarantined: audited too
        result.feeds[feed] = rec.counts
        audit += [row.as_tuple() for row in rec.audit]
    if processed.master is not None:
        progress("writing the enterprise master")
        tables.write(processed.master, "silver.enterprise_master")
    if audit:
        tables.write(tables.rows(spark, "ops.ingest_audit", audit), "ops.ingest_audit")
    tables.write(tables.rows(spark, "ops.file_manifest", _manifest_rows(batch)), "ops.file_manifest")


def commit(spark: SparkSession, tables: Tables, batch: Batch, result: IngestResult) -> None:
    """The commit mark: from here on the batch's rows are the lakehouse's."""
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
    retry: frozenset[str] = frozenset(),
    rotate_key: bool = False,
) -> IngestResult:
    """Ingest the new landing files as one batch. Its scratch is removed however it ends.

    `retry`: quarantined files (paths as listed, or relative to the landing root) to read again as they are.
    `rotate_key`: the pseudonymisation key deliberately differs from the one of the lakehouse's last batch.
    """
    tables = Tables(settings)
    key = key_from_env(settings.pipeline.ingest.pseudonym_key_env)
    quality = quality or load_quality(settings)
    started = _now()
    batch_id = batch_id_of(started)
    with tables.hold(spark, "ingest", recover_incomplete, progress, batch_id) as lease:
        settle_incomplete(spark, tables, recover_incomplete, progress)
        key_id = check_key(spark, tables, key, rotate_key)
        progress(f"listing {settings.landing}")
        files = new_files(spark, settings, tables, until, retry)
        if not files:
            progress("no new files: nothing to do")
            return IngestResult(batch_id=None)
        batch = open_batch(spark, tables, Batch(batch_id, started, files, key_id))
        progress(
            f"batch {batch.id}: {len(files)} new files: {len(batch.readable)} to read, {len(batch.quarantined)} "
            f"quarantined as files, {len(batch.having(RESENT))} identical to deliveries already recorded"
        )
        reference_job.run(spark, settings)
        validator = Validator.for_run(spark, settings, quality, batch.id, "ingest")
        with lake.scratch(spark, tables.staging(batch.id)) as stage:
            pipeline = FeedPipeline.for_batch(settings, validator, key, stage)
            processed = process(spark, settings, batch, pipeline, progress)
            result = gate(spark, tables, batch, validator)
            save(spark, tables, batch, processed, result, progress)
            lease.check()
            commit(spark, tables, batch, result)
    return result
