"""Typed, frozen configuration loaded from conf/ and validated before any job starts.

Every YAML file is parsed into pydantic models that forbid unknown keys, so a typo
fails at load time with the file and key named instead of deep inside a Spark job.
"""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from etl.model import ConfigError, Frozen, load_model, parse_model, read_yaml


def _project_root() -> Path:
    """The checkout iiap runs from. Run from a zip (spark-submit --py-files iiap-code.zip) it has none: relative
    paths then resolve from the working directory, and conf/ must be named (--conf)."""
    here = Path(__file__).resolve().parent.parent
    return here if here.is_dir() else Path.cwd()


PROJECT_ROOT = _project_root()
DEFAULT_CONF_DIR = PROJECT_ROOT / "conf"
FEED_NAMES = ("roster", "logins", "resource_usage", "traffic")
LOG_FEEDS = ("logins", "resource_usage", "traffic")


# --- pipeline.yaml ---------------------------------------------------------------------------


def known_zone(value: str | None) -> str | None:
    """An IANA time zone name, or a ValueError naming it (pydantic reports it with the file and key)."""
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class ObservationWindow(Frozen):
    start: date
    end: date
    timezone: str

    _known_zone = field_validator("timezone")(known_zone)

    @model_validator(mode="after")
    def _ordered(self) -> ObservationWindow:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def start_utc(self) -> datetime:
        local = datetime.combine(self.start, datetime.min.time(), ZoneInfo(self.timezone))
        return local.astimezone(UTC).replace(tzinfo=None)

    def end_utc(self) -> datetime:
        """Exclusive end: midnight after the last day, in UTC."""
        local = datetime.combine(self.end + timedelta(days=1), datetime.min.time(), ZoneInfo(self.timezone))
        return local.astimezone(UTC).replace(tzinfo=None)


LANDING_GROUPS = ("platform_id", "feed", "delivery_date")


class IngestSettings(Frozen):
    pseudonym_key_env: str
    future_tolerance_hours: float = Field(ge=0)
    landing_pattern: str
    max_line_bytes: int = Field(default=1_048_576, gt=0)
    max_columns: int = Field(default=256, gt=0)
    max_record_lines: int = Field(default=50, gt=0)

    @field_validator("landing_pattern")
    @classmethod
    def _pattern_names_the_parts(cls, value: str) -> str:
        try:
            groups = re.compile(value).groupindex
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        missing = [g for g in LANDING_GROUPS if g not in groups]
        if missing:
            raise ValueError(f"needs the named groups {', '.join(f'(?P<{g}>...)' for g in missing)}")
        return value


class Limits(Frozen):
    compute_core_hours: float = Field(gt=0)
    storage_bytes: float = Field(gt=0)
    app_sessions: float = Field(gt=0)
    traffic_bytes: float = Field(gt=0)
    requests: float = Field(gt=0)


class TableSettings(Frozen):
    reference: tuple[str, ...]


class Tracking(Frozen):
    """Where MLflow records runs: a server URI, or null for a SQLite store inside the project."""

    uri: str | None = None
    local_store: str = "mlflow"
    experiment_prefix: str = Field(default="iiap", pattern=r"^[A-Za-z0-9_.-]+$")


class LeaseSettings(Frozen):
    """ops.lease: one writing job at a time per lakehouse (etl/lease.py)."""

    minutes: float = Field(default=20, gt=0)


class Pipeline(Frozen):
    lakehouse_root: str
    landing_root: str
    window: ObservationWindow
    ingest: IngestSettings
    limits: Limits
    tables: TableSettings
    tracking: Tracking = Tracking()
    lease: LeaseSettings = LeaseSettings()


# --- feeds.yaml --------------------------------------------------------------------------------


class FieldSpec(Frozen):
    kind: Literal["string", "timestamp", "integer", "measure"]
    required: bool
    unit_kind: str | None = None
    unit_by: str | None = None
    limit: str | None = None

    @model_validator(mode="after")
    def _measure_has_unit(self) -> FieldSpec:
        if self.kind == "measure" and not (self.unit_kind or self.unit_by):
            raise ValueError("a measure needs unit_kind or unit_by")
        return self


class FeedSpec(Frozen):
    natural_key: tuple[str, ...]
    on_existing: Literal["update", "skip"]
    fields: dict[str, FieldSpec]

    @model_validator(mode="after")
    def _key_fields_exist(self) -> FeedSpec:
        missing = [k for k in self.natural_key if k not in self.fields]
        if missing:
            raise ValueError(f"natural_key names unknown fields {missing}")
        return self


class ResourceKind(Frozen):
    unit_kind: str
    limit: str


class Feeds(Frozen):
    units: dict[str, dict[str, float]]
    feeds: dict[str, FeedSpec]
    resource_kinds: dict[str, ResourceKind]

    @model_validator(mode="after")
    def _consistent(self) -> Feeds:
        if set(self.feeds) != set(FEED_NAMES):
            raise ValueError(f"feeds must be exactly {list(FEED_NAMES)}, got {sorted(self.feeds)}")
        for feed, spec in self.feeds.items():
            for name, field in spec.fields.items():
                if field.unit_kind and field.unit_kind not in self.units:
                    raise ValueError(f"feeds.{feed}.fields.{name}: unknown unit_kind {field.unit_kind!r}")
                if field.limit and field.limit not in Limits.model_fields:
                    raise ValueError(f"feeds.{feed}.fields.{name}: unknown limit {field.limit!r}")
        for kind, rk in self.resource_kinds.items():
            if rk.unit_kind not in self.units:
                raise ValueError(f"resource_kinds.{kind}: unknown unit_kind {rk.unit_kind!r}")
        return self

    def canonical_unit(self, unit_kind: str) -> str:
        return next(iter(self.units[unit_kind]))


# --- contracts/Pxx.yaml ------------------------------------------------------------------------


class TimestampConvention(Frozen):
    convention: Literal["epoch_millis", "local_string"]
    format: str | None = None
    timezone: str | None = None

    _known_zone = field_validator("timezone")(known_zone)

    @model_validator(mode="after")
    def _local_needs_format(self) -> TimestampConvention:
        if self.convention == "local_string" and (not self.format or not self.timezone):
            raise ValueError("local_string timestamps need format and timezone")
        return self


class Codes(Frozen):
    sector: Literal["letter", "name_zh"]
    sub_industry: Literal["id", "name_zh"]
    resource_kind: dict[str, str]


class Contract(Frozen):
    platform_id: str = Field(pattern=r"^P\d{2}$")
    format: Literal["jsonl", "csv", "parquet"]
    compression: Literal["none", "gzip"]
    delivery_cadence: Literal["daily", "weekly"]
    encoding: str
    delimiter: str | None = None
    timestamp: TimestampConvention
    units: dict[str, str]
    codes: Codes
    tenant_id_prefix: str = Field(pattern=r"^[a-z]{2,4}$")
    fields: dict[str, dict[str, str]]

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown text encoding {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _format_options(self) -> Contract:
        if self.format == "csv" and not self.delimiter:
            raise ValueError("csv contracts need a delimiter")
        if self.format != "csv" and self.delimiter:
            raise ValueError("delimiter is only for csv contracts")
        if self.format == "parquet" and self.compression != "none":
            raise ValueError("parquet compresses internally; set compression: none")
        for feed, mapping in self.fields.items():
            sources = list(mapping.values())
            if len(set(sources)) != len(sources):
                raise ValueError(f"fields.{feed}: two canonical fields map to one source field")
        return self

    def file_extension(self) -> str:
        ext = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet"}[self.format]
        return ext + (".gz" if self.compression == "gzip" else "")


# --- profiles/*.yaml, jars.yaml ----------------------------------------------------------------


JIT_MODES = ("auto", "quick", "optimizing")  # iiap generate --jit: see etl.spark.quick_start_conf


class QuickStart(Frozen):
    """JVM options for a generator run so small that start-up, not data, is its cost (see conf/profiles/local.yaml)."""

    max_scale: float = Field(gt=0)
    driver_java_options: str = Field(min_length=1)


class Profile(Frozen):
    master: str | None
    spark_conf: dict[str, str]
    quick_start: QuickStart | None = None


class Jars(Frozen):
    packages: tuple[str, ...]


# --- generator.yaml ----------------------------------------------------------------------------

Range = tuple[float, float]


class DayPattern(Frozen):
    kind: Literal["none", "probability", "spread", "bursts"]
    weekday: float | None = Field(default=None, ge=0, le=1)
    weekend: float | None = Field(default=None, ge=0, le=1)
    count: tuple[int, int] | None = None
    length: tuple[int, int] | None = None

    @model_validator(mode="after")
    def _parameters(self) -> DayPattern:
        need = {"none": (), "probability": ("weekday", "weekend"), "spread": ("count",), "bursts": ("count", "length")}
        missing = [p for p in need[self.kind] if getattr(self, p) is None]
        if missing:
            raise ValueError(f"days of kind {self.kind} need {missing}")
        return self


class Archetype(Frozen):
    effective: bool
    share: float = Field(gt=0, le=1)
    days: DayPattern
    logins_per_day: tuple[int, int] = (0, 0)
    users: tuple[int, int] = (1, 1)
    compute_core_hours: Range = (0.0, 0.0)
    storage_gb: Range = (0.0, 0.0)
    app_sessions: tuple[int, int] = (0, 0)
    traffic_mb: Range = (0.0, 0.0)
    requests: tuple[int, int] = (0, 0)

    @model_validator(mode="after")
    def _ranges(self) -> Archetype:
        for name in (
            "logins_per_day",
            "users",
            "compute_core_hours",
            "storage_gb",
            "app_sessions",
            "traffic_mb",
            "requests",
        ):
            lo, hi = getattr(self, name)
            if lo < 0 or hi < lo:
                raise ValueError(f"{name} must be [low, high] with 0 <= low <= high")
        return self


class Population(Frozen):
    enterprises: int = Field(gt=0)
    effective: int = Field(ge=0)
    platforms_per_enterprise: dict[int, float]
    primary_platform_share: float = Field(ge=0, le=1)
    # Enterprises generated and written per pass: bounds the generator's memory and scratch
    # disk at national scale. An enterprise's rows do not depend on it; each pass is its own
    # part file of every delivery, and file-level faults go into the first pass's files.
    enterprises_per_chunk: int = Field(default=1_100_000, gt=0)
    # Enterprises per Spark task of a pass: bounds one task's rows (and a held block's size).
    enterprises_per_task: int = Field(default=50_000, gt=0)


class RowFaults(Frozen):
    duplicate_record: float = Field(ge=0, le=0.05)
    malformed_record: float = Field(ge=0, le=0.05)
    unknown_tenant: float = Field(ge=0, le=0.05)
    invalid_timestamp: float = Field(ge=0, le=0.05)
    timestamp_out_of_window: float = Field(ge=0, le=0.05)
    timestamp_in_future: float = Field(ge=0, le=0.05)
    invalid_number: float = Field(ge=0, le=0.05)
    negative_value: float = Field(ge=0, le=0.05)
    implausible_value: float = Field(ge=0, le=0.05)


class Faults(Frozen):
    rows: RowFaults
    invalid_credit_code_rate: float = Field(ge=0, le=0.05)
    redelivered_files: int = Field(ge=0)
    renamed_column_files: int = Field(ge=0)
    extra_column_files: int = Field(ge=0)


class Generator(Frozen):
    population: Population
    archetypes: dict[str, Archetype]
    channels: tuple[str, ...]
    province_weights: dict[str, float]
    province_effective_tilt: dict[str, float]
    division_suffixes: dict[str, float]
    section_weights: dict[str, float]
    manufacturing_sub_industry_weights: dict[str, float]
    section_sub_industry: dict[str, str]
    tertiary_other_share: float = Field(ge=0, le=1)
    sector_disagreement_rate: float = Field(ge=0, le=1)
    specialised_app_targets: dict[str, float]
    platform_weights: dict[str, float]
    faults: Faults
    company_name_words: tuple[str, ...]
    section_name_suffix: dict[str, str]
    first_registration: date

    @model_validator(mode="after")
    def _shares(self) -> Generator:
        for effective in (True, False):
            total = sum(a.share for a in self.archetypes.values() if a.effective is effective)
            if not math.isclose(total, 1.0, abs_tol=1e-9):
                raise ValueError(f"archetype shares with effective={effective} sum to {total}, not 1")
        if not math.isclose(sum(self.population.platforms_per_enterprise.values()), 1.0, abs_tol=1e-9):
            raise ValueError("population.platforms_per_enterprise must sum to 1")
        if self.population.effective > self.population.enterprises:
            raise ValueError("population.effective exceeds population.enterprises")
        return self


# --- loading -----------------------------------------------------------------------------------


class Settings(Frozen):
    """Everything a job needs from conf/, resolved against the project root."""

    conf_dir: Path
    profile_name: str
    pipeline: Pipeline
    feeds: Feeds
    contracts: dict[str, Contract]
    profile: Profile
    jars: Jars

    def path(self, value: str) -> str:
        """Resolve a configured location: URIs and absolute paths as they are, others from the project root."""
        if "://" in value or os.path.isabs(value):
            return value
        return str(PROJECT_ROOT / value)

    @property
    def lakehouse(self) -> str:
        return self.path(self.pipeline.lakehouse_root)

    @property
    def landing(self) -> str:
        return self.path(self.pipeline.landing_root)

    def table_path(self, layer: str, name: str) -> str:
        return f"{self.lakehouse.rstrip('/')}/{layer}/{name}"

    @property
    def reference_dir(self) -> Path:
        return self.conf_dir / "reference"


def load_contracts(conf_dir: Path, feeds: Feeds) -> dict[str, Contract]:
    contracts: dict[str, Contract] = {}
    for path in sorted((conf_dir / "contracts").glob("*.yaml")):
        contract = load_model(Contract, path)
        if path.stem != contract.platform_id:
            raise ConfigError(f"{path}: platform_id: {contract.platform_id} does not match the file name")
        problems = []
        for feed, spec in feeds.feeds.items():
            mapping = contract.fields.get(feed)
            if mapping is None:
                problems.append(f"fields.{feed}: missing")
                continue
            for name in set(spec.fields) - set(mapping):
                problems.append(f"fields.{feed}.{name}: canonical field not mapped")
            for name in set(mapping) - set(spec.fields):
                problems.append(f"fields.{feed}.{name}: not a canonical field of {feed}")
        for feed in set(contract.fields) - set(feeds.feeds):
            problems.append(f"fields.{feed}: unknown feed")
        for unit_kind, unit in contract.units.items():
            if unit_kind not in feeds.units:
                problems.append(f"units.{unit_kind}: unknown unit kind")
            elif unit not in feeds.units[unit_kind]:
                problems.append(f"units.{unit_kind}: unknown unit {unit!r} (one of {sorted(feeds.units[unit_kind])})")
        needed = {f.unit_kind for s in feeds.feeds.values() for f in s.fields.values() if f.unit_kind}
        needed |= {rk.unit_kind for rk in feeds.resource_kinds.values()}
        for unit_kind in sorted(needed - set(contract.units) - {"count"}):
            problems.append(f"units.{unit_kind}: missing")
        if set(contract.codes.resource_kind) != set(feeds.resource_kinds):
            problems.append(f"codes.resource_kind: must name exactly {sorted(feeds.resource_kinds)}")
        if problems:
            raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
        contracts[contract.platform_id] = contract
    if not contracts:
        raise ConfigError(f"{conf_dir / 'contracts'}: no platform contracts found")
    return contracts


def load_settings(conf_dir: str | Path | None = None, profile: str = "local", **overrides: str) -> Settings:
    """Load and cross-check conf/; `overrides` replace pipeline keys (lakehouse_root, landing_root)."""
    conf = Path(conf_dir) if conf_dir else DEFAULT_CONF_DIR
    pipeline_raw = read_yaml(conf / "pipeline.yaml")
    pipeline_raw.update({k: v for k, v in overrides.items() if v is not None})
    pipeline = parse_model(Pipeline, pipeline_raw, conf / "pipeline.yaml")
    feeds = load_model(Feeds, conf / "feeds.yaml")
    profile_path = conf / "profiles" / f"{profile}.yaml"
    if not profile_path.is_file():
        known = sorted(p.stem for p in (conf / "profiles").glob("*.yaml"))
        raise ConfigError(f"{profile_path}: unknown profile {profile!r} (known: {', '.join(known)})")
    return Settings(
        conf_dir=conf,
        profile_name=profile,
        pipeline=pipeline,
        feeds=feeds,
        contracts=load_contracts(conf, feeds),
        profile=load_model(Profile, profile_path),
        jars=load_model(Jars, conf / "jars.yaml"),
    )


def load_generator(conf_dir: str | Path | None = None) -> Generator:
    conf = Path(conf_dir) if conf_dir else DEFAULT_CONF_DIR
    return load_model(Generator, conf / "generator.yaml")
