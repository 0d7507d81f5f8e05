"""The catalogue of lakehouse tables: every table's path, columns, partitioning, write mode, writer and suite.

One place says which tables exist. The jobs take their input and output lists from it
(`written_by`, `read_by`), and `Tables.write` checks a frame against its entry before it
writes, so a transform that drifts from its declared schema fails at the write, naming
the table and the columns, instead of silently widening a Delta table. Tables are
path-based Delta under the lakehouse root (`<root>/<layer>/<name>`), no metastore.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from etl import lake
from etl.config import FEED_NAMES, LOG_FEEDS, Settings
from etl.lease import DDL as LEASE_DDL
from etl.lease import held
from etl.spark import local_frame

WriteMode = Literal["append", "upsert", "overwrite"]
Schema = str | Callable[[Settings], str]  # a DDL string, or the function of conf/ that gives it

BRONZE_LINEAGE = (
    "batch_id string, ingested_at timestamp, platform_id string, source_file string, delivery_date date, "
    "raw_record string, parse_error string, missing_fields array<string>, extra_fields map<string,string>"
)
SILVER_LINEAGE_DDL = "source_file string, delivery_date date, batch_id string, ingested_at timestamp"
SILVER_LOGS = {
    "logins": "user_key string, event_ts timestamp, event_date date, channel string, record_key string",
    "resource_usage": (
        "event_ts timestamp, event_date date, resource_kind string, app_id string, quantity double, unit string, "
        "record_key string"
    ),
    "traffic": (
        "event_ts timestamp, event_date date, bytes_in bigint, bytes_out bigint, requests bigint, record_key string"
    ),
}
GOLD_LINEAGE = "run_id string, window_start date, window_end date"
FEATURES_DDL = (
    "active_days int, login_days int, logins bigint, user_days bigint, peak_daily_users bigint, usage_days int, "
    "compute_core_hours double, peak_storage_bytes double, app_sessions bigint, distinct_apps int, traffic_days int, "
    "traffic_bytes bigint, requests bigint"
)


def _bronze(feed: str) -> Callable[[Settings], str]:
    """Bronze keeps every canonical field of feeds.yaml as text, after the lineage and the parse's findings."""

    def ddl(settings: Settings) -> str:
        return ", ".join([BRONZE_LINEAGE, *(f"{name} string" for name in settings.feeds.feeds[feed].fields)])

    return ddl


@dataclass(frozen=True)
class Table:
    layer: str
    name: str
    schema: Schema
    grain: str
    write: WriteMode
    writer: str  # the job that writes it
    suite: str | None = None  # the conf/quality.yaml suite that validates it
    partition_by: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # upsert keys
    readers: tuple[str, ...] = ()  # jobs that read it as a pinned input
    also_written_by: tuple[str, ...] = ()  # jobs that append to it besides its writer (not rolled back with them)
    rolled_back: bool = True  # an unfinished batch of its writer is undone in it (not in the batch log itself)

    @property
    def id(self) -> str:
        """`layer.name`: the name suites, lineage params and input versions use."""
        return f"{self.layer}.{self.name}"

    @property
    def relative_path(self) -> str:
        return f"{self.layer}/{self.name}"

    def ddl(self, settings: Settings | None = None) -> str:
        if callable(self.schema):
            if settings is None:
                raise ValueError(f"{self.id}: its columns depend on conf/; give the settings")
            return self.schema(settings)
        return self.schema

    def struct(self, settings: Settings | None = None) -> T.StructType:
        """The declared columns as a Spark schema (needs a running Spark session to parse the DDL)."""
        return T.StructType.fromDDL(self.ddl(settings))


REFERENCE_TABLES = ("platforms", "provinces", "economic_zones", "sections", "sub_industries", "apps")
GOLD_TABLES = ("activity_daily", "app_sessions_daily", "activity_features", "enterprise_labels", "access_counts")

_REFERENCE_DDL = {
    "platforms": "platform_id string NOT NULL, company_name string, platform_name string, province_name string",
    "provinces": (
        "province_code string NOT NULL, division_code string NOT NULL, name_zh string NOT NULL, "
        "full_name_zh string NOT NULL, "
        "name_en string NOT NULL, region string NOT NULL, economic_zone string"
    ),
    "economic_zones": (
        "zone_id string NOT NULL, name_zh string NOT NULL, name_en string NOT NULL, table_3_7_order int NOT NULL"
    ),
    "sections": "section_code string NOT NULL, name_zh string NOT NULL, name_en string NOT NULL",
    "sub_industries": (
        "sub_industry_id string NOT NULL, name_zh string NOT NULL, name_en string NOT NULL, section_code string, "
        "table_4_2_rank int NOT NULL"
    ),
    "apps": (
        "app_id string NOT NULL, name_zh string NOT NULL, name_en string NOT NULL, kind string NOT NULL, "
        "sub_industry_id string, "
        "category string NOT NULL"
    ),
}
_REFERENCE_GRAIN = {
    "platforms": "one row per platform of Table 2-1, with its registered province (Table 3-3)",
    "provinces": "one row per provincial division (GB/T 2260): English name, NBS region, economic zone of Table 3-7",
    "economic_zones": "one row per economic zone of Table 3-7",
    "sections": "one row per GB/T 4754-2017 section (Table 4-1)",
    "sub_industries": "one row per sub-industry of Table 4-2",
    "apps": "one row per app of the catalog: 12 general-purpose, 3 specialised per sub-industry",
}

# In write order: a batch's readers see bronze before silver, silver before the master, and the
# audit and manifest last, so the manifest never names a file whose rows are not written.
TABLES: tuple[Table, ...] = (
    *(
        Table("reference", name, _REFERENCE_DDL[name], _REFERENCE_GRAIN[name], "overwrite", "reference")
        for name in REFERENCE_TABLES
    ),
    *(
        Table(
            "bronze",
            feed,
            _bronze(feed),
            "every delivered record: raw text, fields under canonical names (text), missing and unknown fields, parse "
            "error, lineage (platform, source file, delivery date, batch id, ingest time)",
            "append",
            "ingest",
            suite=f"bronze.{feed}",
            partition_by=("delivery_date",),
        )
        for feed in FEED_NAMES
    ),
    Table(
        "silver",
        "roster",
        "platform_id string, tenant_id string, credit_code string, company_name string, section_code string, "
        "sub_industry_id string, registered_at timestamp, record_key string, content_hash string, "
        f"{SILVER_LINEAGE_DDL}",
        "one row per (platform, tenant): credit code, company, section, sub-industry, registration time (UTC)",
        "upsert",
        "ingest",
        suite="silver.roster",
        keys=("platform_id", "tenant_id"),
    ),
    *(
        Table(
            "silver",
            feed,
            f"platform_id string, tenant_id string, credit_code string, {SILVER_LOGS[feed]}, {SILVER_LINEAGE_DDL}",
            "canonical events: credit code resolved through the roster, UTC `event_ts`, `event_date` in the window's "
            "time zone, canonical units, user ids replaced by HMAC-SHA256 `user_key`, `record_key` = hash of the "
            "natural key",
            "append",
            "ingest",
            suite=f"silver.{feed}",
            partition_by=("event_date",),
            readers=("classify",),
        )
        for feed in LOG_FEEDS
    ),
    Table(
        "silver",
        "enterprise_master",
        "credit_code string, company_name string, division_code string, province_code string, province_name string, "
        "section_code string, sub_industry_id string, platforms array<string>, n_platforms int, "
        "first_registered_at timestamp, sector_disagreement boolean",
        "one row per credit code: province from characters 3–4, section and sub-industry by majority over platforms "
        "(tie: the platform registered on first, then the lower platform id), platforms",
        "overwrite",
        "ingest",
        suite="silver.enterprise_master",
        readers=("classify",),
    ),
    Table(
        "quarantine",
        "records",
        "batch_id string NOT NULL, feed string, platform_id string, source_file string, delivery_date date, "
        "raw_record string, "
        "reason_code string NOT NULL, reason_detail string, quarantined_at timestamp NOT NULL",
        "every rejected record (or file): raw text, source file, `reason_code`, `reason_detail`",
        "append",
        "ingest",
    ),
    Table(
        "ops",
        "ingest_audit",
        "batch_id string, feed string, platform_id string, files int, files_quarantined int, records_in_files bigint, "
        "rows_read bigint, inserted bigint, "
        "updated bigint, "
        "quarantined bigint, duplicates_in_batch bigint, duplicates_existing bigint, reconciled boolean, "
        "started_at timestamp, finished_at timestamp",
        "per batch × feed × platform: files read and quarantined as files, records the file check counted, rows "
        "read, inserted, updated, quarantined, duplicates, reconciled",
        "append",
        "ingest",
    ),
    Table(
        "ops",
        "file_manifest",
        "path string NOT NULL, relative_path string NOT NULL, platform_id string, feed string, delivery_date date, "
        "size_bytes bigint NOT NULL, mtime_ms bigint NOT NULL, content_hash string, records bigint, "
        "status string NOT NULL, reason_code string, batch_id string NOT NULL, ingested_at timestamp NOT NULL",
        "one row per landing file a batch settled: its SHA-256 `content_hash`, records, `status` (ingested, "
        "quarantined with its `reason_code`, or resent: identical to a delivery already recorded)",
        "append",
        "ingest",
    ),
    Table(
        "ops",
        "batches",
        "batch_id string NOT NULL, status string NOT NULL, at timestamp NOT NULL, files int NOT NULL, "
        "table_versions map<string,bigint>, key_fingerprint string",
        "batch start (with every table's version and the fingerprint of its pseudonymisation key), commit, "
        "rejection and roll-back",
        "append",
        "ingest",
        rolled_back=False,
    ),
    Table(
        "ops",
        "lease",
        LEASE_DDL,
        "one row per lease event (taken, taken_over, renewed, released) of the one job that may write the lakehouse: "
        "job, batch, host, process, start, expiry; the last event is the lease (etl/lease.py)",
        "append",
        "ingest",
        also_written_by=("quality", "classify", "economy", "index release"),
        rolled_back=False,
    ),
    Table(
        "ops",
        "quality_history",
        "batch_id string NOT NULL, run_kind string NOT NULL, suite string NOT NULL, rule string NOT NULL, "
        "column string, "
        "action string NOT NULL, success boolean NOT NULL, gate_breached boolean NOT NULL, element_count bigint, "
        "unexpected_count bigint, unexpected_percent double, unexpected_samples array<string>, "
        "observed map<string,double>, "
        "validated_at timestamp NOT NULL",
        "one row per expectation per validation run (ingest, quality, classify): counts, samples, observed metrics",
        "append",
        "quality",
        also_written_by=("ingest", "classify"),
    ),
    Table(
        "ops",
        "pipeline_runs",
        "run_id string NOT NULL, attempt int NOT NULL, stage string NOT NULL, status string NOT NULL, "
        "at timestamp NOT NULL, exit_code int, message string, outputs map<string,string>",
        "one row per stage event of iiap run (started, done, failed; stage `run` for the run as a whole): what a "
        "later stage is pinned to (Delta versions, MLflow run ids), a failure's exit code and message (jobs/run.py)",
        "append",
        "run",
        rolled_back=False,
    ),
    Table(
        "gold",
        "activity_daily",
        "credit_code string, platform_id string, activity_date date, logins bigint, users bigint, "
        "compute_core_hours double, storage_bytes double, app_sessions bigint, bytes_in bigint, bytes_out bigint, "
        f"requests bigint, {GOLD_LINEAGE}",
        "credit code × platform × day (in the window's time zone): logins, distinct users, compute core-hours, "
        "storage bytes, app sessions, bytes in/out, requests",
        "overwrite",
        "classify",
        suite="gold.activity_daily",
        partition_by=("activity_date",),
    ),
    Table(
        "gold",
        "app_sessions_daily",
        f"credit_code string, platform_id string, activity_date date, app_id string, sessions bigint, {GOLD_LINEAGE}",
        "credit code × platform × day × app: sessions",
        "overwrite",
        "classify",
        suite="gold.app_sessions_daily",
        partition_by=("activity_date",),
        readers=("release",),
    ),
    Table(
        "gold",
        "activity_features",
        f"credit_code string, {FEATURES_DDL}, {GOLD_LINEAGE}",
        "one row per active credit code: features over the window, all platforms combined",
        "overwrite",
        "classify",
        suite="gold.activity_features",
    ),
    Table(
        "gold",
        "enterprise_labels",
        "credit_code string, province_code string, section_code string, sub_industry_id string, "
        "platforms array<string>, "
        f"{FEATURES_DDL}, effective boolean, passed_signals array<string>, failed_signals array<string>, "
        f"rule_set string, {GOLD_LINEAGE}",
        "one row per connected enterprise (the master): `effective`, `passed_signals`, `failed_signals`, `rule_set`, "
        "features",
        "overwrite",
        "classify",
        suite="gold.enterprise_labels",
        readers=("release",),
    ),
    *(
        Table("gold", name, f"{ddl}, run_id string NOT NULL", grain, "overwrite", "economy", readers=readers)
        for name, ddl, grain, readers in (
            (
                "economy_national",
                "year int, gdp double, direct_va double, penetration_va double, total_va double, gdp_share double, "
                "penetration_rate_multiplier double, gamma double, multiplier double, productivity double, "
                "employment double, "
                "direct_employment double, penetration_employment double, estimated_inputs boolean",
                "year: national IIoT value added (direct, penetration; 亿元), its GDP share, multiplier, "
                "employment (万人)",
                (),
            ),
            (
                "economy_section",
                "year int, section_code string, sector int, section_va double, direct_rate double, "
                "penetration_rate double, "
                "direct_va double, penetration_va double, total_va double, productivity double, "
                "direct_employment double, "
                "penetration_employment double, employment double",
                "year × GB/T 4754 section: contribution rates, IIoT value added, employment driven",
                ("release",),
            ),
            (
                "economy_three_sector",
                "year int, sector int, gdp double, direct_va double, penetration_va double, total_va double, "
                "eta double",
                "year × sector (1-3): GDP, IIoT value added, its share η",
                (),
            ),
            (
                "economy_province",
                "year int, province_code string, gdp double, direct_va double, penetration_va double, total_va double, "
                "labour double, gdp_share double, productivity double, employment double, direct_employment double, "
                "penetration_employment double",
                "year × province: IIoT value added, its GDP share, employment driven",
                ("release",),
            ),
            (
                "economy_province_sector",
                "year int, province_code string, sector int, gdp double, eta double, weight double, direct_va double, "
                "penetration_va double, total_va double",
                "year × province × sector: the allocation weight ω and the value added it gives",
                (),
            ),
            (
                "economy_io_sector",
                "sector_code string, sector_name string, section_code string, s_k double, total_output double, "
                "intermediate_input double, value_added double, direct_va double, delta_y double, lambda double, "
                "penetration_va double",
                "IO-table sector of the base year: S_k, X, M, direct value added, ΔY, λ, penetration value added",
                (),
            ),
            (
                "economy_production",
                "year int, gdp double, capital_stock double, employment double, fitted_gdp double, gamma double, "
                "multiplier double, in_fit boolean",
                "year: the production function's inputs, fit, γ and the annual multiplier",
                (),
            ),
            (
                "economy_production_fit",
                "ln_a double, alpha double, beta double, se_ln_a double, se_alpha double, se_beta double, "
                "r_squared double, "
                "n_obs int, fit_first int, fit_last int",
                "one row: the OLS fit of ln Y = ln A + α ln K + β ln L, with standard errors and R²",
                (),
            ),
            (
                "economy_estimated_inputs",
                "table string, column string, year int, value double",
                "every input cell the run estimated (extrapolated or interpolated)",
                (),
            ),
            (
                "economy_comparison",
                "kind string, figure string, year int, key string, expected double, ours double, unit string, "
                "ratio double, "
                "holds boolean, seed string, location string, inputs string",
                "the seeds' published figures beside ours, and the identities that must hold",
                (),
            ),
        )
    ),
    Table(
        "gold",
        "access_counts",
        "dimension string, key string, connected bigint, effective bigint, access_ratio double, rule_set string, "
        f"{GOLD_LINEAGE}",
        "dimension (national, province, section, sub_industry, platform) × key: connected, effective, access ratio",
        "overwrite",
        "classify",
        suite="gold.access_counts",
    ),
)
CATALOG: dict[str, Table] = {t.id: t for t in TABLES}


class MissingInput(LookupError):
    """An input table of a job does not exist yet."""


class UnfinishedBatch(MissingInput):
    """An ingest batch started and did not finish: its tables may hold half of it."""


class SchemaMismatch(ValueError):
    """A frame about to be written does not have its table's declared columns and types."""


def entry(table_id: str) -> Table:
    if table_id not in CATALOG:
        raise KeyError(f"no table {table_id!r} in the catalogue (etl/catalog.py)")
    return CATALOG[table_id]


def written_by(job: str) -> tuple[Table, ...]:
    return tuple(t for t in TABLES if t.writer == job)


def read_by(job: str) -> tuple[Table, ...]:
    return tuple(t for t in TABLES if job in t.readers)


def readme_rows() -> list[str]:
    """The README's table list, one Markdown row per table (a test keeps README.md equal to it)."""
    rows = ["| table | grain | written by | write | suite |", "|---|---|---|---|---|"]
    for t in TABLES:
        write = f"{t.write} on {', '.join(t.keys)}" if t.keys else t.write
        write += f", partitioned by {', '.join(t.partition_by)}" if t.partition_by else ""
        writer = f"iiap {t.writer}" + (f" (and {', '.join(t.also_written_by)})" if t.also_written_by else "")
        rows.append(f"| `{t.relative_path}` | {t.grain} | {writer} | {write} | {f'`{t.suite}`' if t.suite else '—'} |")
    return rows


def schema_problems(frame_schema: T.StructType, declared: T.StructType) -> list[str]:
    """What differs between a frame's columns and the declared ones (names and types; order and nullability aside)."""
    have = {f.name: f.dataType.simpleString() for f in frame_schema.fields}
    want = {f.name: f.dataType.simpleString() for f in declared.fields}
    problems = [f"missing column {n} {t}" for n, t in want.items() if n not in have]
    problems += [f"undeclared column {n} {t}" for n, t in have.items() if n not in want]
    problems += [f"column {n} is {have[n]}, declared {t}" for n, t in want.items() if n in have and have[n] != t]
    return problems


class Tables:
    """The catalogue bound to one lakehouse: paths, and writes checked against the declared schema."""

    def __init__(self, settings: Settings):
        self.s = settings

    def path(self, table_id: str) -> str:
        t = entry(table_id)
        return self.s.table_path(t.layer, t.name)

    def layer(self, layer: str) -> str:
        """The folder of a layer's tables (with a trailing slash)."""
        return self.s.table_path(layer, "")

    def bronze(self, feed: str) -> str:
        return self.path(f"bronze.{feed}")

    def silver(self, feed: str) -> str:
        return self.path(f"silver.{feed}")

    def gold(self, name: str) -> str:
        return self.path(f"gold.{name}")

    def reference(self, name: str) -> str:
        return self.path(f"reference.{name}")

    @property
    def master(self) -> str:
        return self.path("silver.enterprise_master")

    @property
    def quarantine(self) -> str:
        return self.path("quarantine.records")

    @property
    def manifest(self) -> str:
        return self.path("ops.file_manifest")

    @property
    def audit(self) -> str:
        return self.path("ops.ingest_audit")

    @property
    def quality_history(self) -> str:
        return self.path("ops.quality_history")

    @property
    def batches(self) -> str:
        return self.path("ops.batches")

    @property
    def lease(self) -> str:
        return self.path("ops.lease")

    def hold(
        self,
        spark: SparkSession,
        job: str,
        recover: bool = False,
        progress=lambda msg: None,
        batch_id: str | None = None,
    ):
        """The lakehouse's lease for `job` while it runs (etl/lease.py): a context manager yielding the Lease."""
        return held(spark, self.lease, job, self.s.pipeline.lease.minutes, recover, progress, batch_id)

    def staging(self, batch_id: str) -> str:
        """Scratch of one ingest batch (its parsed and conformed rows until the gates pass); removed when the run
        ends."""
        return self.s.table_path("_staging", batch_id)

    def written_by_ingest(self) -> list[str]:
        """Paths an ingest batch writes, in the catalogue's write order: what --recover restores (not the batch log)."""
        return [self.path(t.id) for t in written_by("ingest") if t.rolled_back]

    def struct(self, table_id: str) -> T.StructType:
        return entry(table_id).struct(self.s)

    def pin(self, spark: SparkSession, table_ids: list[str], hint: dict[str, str] | None = None) -> dict[str, int]:
        """The current Delta version of every input, read once: a run reads exactly these snapshots.

        `hint`: per layer, the command that creates its tables, named when one is missing.
        """
        if any(entry(t).writer == "ingest" for t in table_ids):
            unfinished = self.unfinished_batches(spark)
            if unfinished:
                ids = ", ".join(f"{r['batch_id']} (started {r['at']})" for r in unfinished)
                raise UnfinishedBatch(
                    f"ingest batch {ids} did not finish, so its tables may hold part of it: run iiap ingest "
                    "--recover first"
                )
        versions = {}
        for table_id in table_ids:
            v = lake.version(spark, self.path(table_id))
            if v is None:
                todo = (hint or {}).get(entry(table_id).layer, f"iiap {entry(table_id).writer}")
                raise MissingInput(f"{table_id} ({self.path(table_id)}) does not exist: run {todo} first")
            versions[table_id] = v
        return versions

    def unfinished_batches(self, spark: SparkSession) -> list:
        """Ingest batches marked started and never committed, rejected or rolled back."""
        if not lake.exists(spark, self.batches):
            return []
        b = lake.read(spark, self.batches)
        done = b.filter("status IN ('committed', 'rejected')").select("batch_id")
        return b.filter("status = 'started'").join(done, on="batch_id", how="left_anti").collect()

    def check(self, frame: DataFrame, table_id: str) -> None:
        problems = schema_problems(frame.schema, self.struct(table_id))
        if problems:
            raise SchemaMismatch(
                f"{table_id} ({self.path(table_id)}): the frame does not match the catalogue: {'; '.join(problems)}"
            )

    def rows(self, spark: SparkSession, table_id: str, rows: list[tuple]) -> DataFrame:
        """Driver-side rows (audit, manifest, batch records) as a frame of the table's declared schema."""
        return local_frame(spark, rows, self.struct(table_id))

    def write(self, frame: DataFrame, table_id: str, note: str | None = None) -> None:
        """Write `frame` as its entry says (append, upsert on keys, overwrite), after checking its columns.

        `note`: the commit's user metadata (overwrite tables only), read back by `lake.last_commit_metadata`."""
        t = entry(table_id)
        self.check(frame, table_id)
        path = self.path(table_id)
        if note is not None and t.write != "overwrite":
            raise ValueError(f"{table_id}: a commit note is kept for overwritten tables only, not {t.write}")
        if t.write == "append":
            lake.append(frame, path, t.partition_by)
        elif t.write == "upsert":
            lake.upsert(frame.sparkSession, frame, path, t.keys)
        else:
            options = {"userMetadata": note} if note is not None else None
            lake.overwrite(frame, path, options=options, partition_by=t.partition_by)
