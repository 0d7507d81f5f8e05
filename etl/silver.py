"""Bronze -> silver candidates: typed canonical rows plus what the quality rules read.

`conform_*` are pure transforms. They parse and convert but judge nothing: a value
that does not parse becomes NULL, and the rules of conf/quality.yaml (applied by
quality.routing) decide which rows are quarantined and why. The columns besides the
silver schema (raw text, structure counts, `latest_allowed_ts`, limits) exist for
those rules and are dropped before silver is written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl import reference
from etl.config import Contract, Feeds, Pipeline, Settings
from etl.pseudonym import hmac_sha256_hex, with_key_pads
from etl.spark import local_frame

KEY_SEPARATOR = "\u001f"


@dataclass(frozen=True)
class ConformContext:
    """What conforming needs besides the rows: contracts, units, limits, vocabularies."""

    pipeline: Pipeline
    feeds: Feeds
    contracts: dict[str, Contract]
    sections: dict[str, str]  # letter -> name_zh
    sub_industries: dict[str, str]  # id -> name_zh

    @classmethod
    def from_settings(cls, settings: Settings) -> ConformContext:
        ref = settings.reference_dir
        return cls(
            pipeline=settings.pipeline,
            feeds=settings.feeds,
            contracts=settings.contracts,
            sections={r["section_code"]: r["name_zh"] for r in reference.rows(ref, "sections")},
            sub_industries={r["sub_industry_id"]: r["name_zh"] for r in reference.rows(ref, "sub_industries")},
        )


def _by_platform(values: dict[str, object], default: object = None) -> Column:
    if not values:
        return F.lit(default)
    return F.coalesce(
        F.element_at(F.create_map(*[x for k, v in values.items() for x in (F.lit(k), F.lit(v))]), F.col("platform_id")),
        F.lit(default),
    )


def parse_timestamp(text: Column, contracts: dict[str, Contract]) -> Column:
    """UTC timestamp from each platform's convention; NULL when the text does not parse."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for pid, c in contracts.items():
        groups[(c.timestamp.convention, c.timestamp.format, c.timestamp.timezone)].append(pid)
    expr = None
    for (convention, fmt, tz), pids in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if convention == "epoch_millis":
            parsed = F.timestamp_millis(text.try_cast("bigint"))
        else:
            parsed = F.to_utc_timestamp(F.try_to_timestamp(text, F.lit(fmt)), tz)
        cond = F.col("platform_id").isin(pids)
        expr = F.when(cond, parsed) if expr is None else expr.when(cond, parsed)
    return expr


def parse_number(text: Column) -> Column:
    """A finite double, or NULL."""
    value = F.trim(text).try_cast("double")
    return F.when(~F.isnan(value) & (F.abs(value) != F.lit(float("inf"))), value)


def _structure() -> list[Column]:
    """What the bronze parse found wrong with the record's shape, as columns the quality rules read."""
    return [
        "parse_error",
        F.coalesce(F.size("missing_fields"), F.lit(0)).alias("missing_field_count"),
        F.coalesce(F.size(F.map_keys("extra_fields")), F.lit(0)).alias("extra_field_count"),
    ]


def _latest_allowed(ctx: ConformContext) -> Column:
    """End of the delivery day in the window's time zone, plus the allowed clock skew."""
    end = F.to_utc_timestamp(F.date_add("delivery_date", 1).cast("timestamp"), ctx.pipeline.window.timezone)
    return (
        end
        + F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), F.lit(ctx.pipeline.ingest.future_tolerance_hours * 3600.0))
    ).alias("latest_allowed_ts")


def _event_date(ts: Column, ctx: ConformContext) -> Column:
    return F.to_date(F.from_utc_timestamp(ts, ctx.pipeline.window.timezone))


def record_key(*values: Column) -> Column:
    """SHA-256 of the platform and the natural key, as text: equal keys mean the same record."""
    return F.sha2(
        F.concat_ws(KEY_SEPARATOR, F.col("platform_id"), *[F.coalesce(v.cast("string"), F.lit("")) for v in values]),
        256,
    )


def pseudonymous_record(user_key: Column) -> Column:
    """A login's raw record as quarantine keeps it: the raw user id replaced by its keyed pseudonym.

    When the user id cannot be found (the record does not parse, or its user field is
    missing or renamed), every letter and digit is masked with `x`: the record's shape
    still shows what was wrong, and no raw id leaves bronze.
    """
    raw, user = F.col("raw_record"), F.col("user_id")
    found = user.isNotNull() & (F.length(user) > 0) & F.col("parse_error").isNull()
    return F.when(found, F.replace(raw, user, user_key)).otherwise(F.regexp_replace(raw, r"[\p{L}\p{N}]", "x"))


def _lineage(raw_record: Column | None = None) -> list[Column]:
    raw = F.col("raw_record") if raw_record is None else raw_record.alias("raw_record")
    return [F.col("source_file"), F.col("delivery_date"), F.col("batch_id"), F.col("ingested_at"), raw]


def conform_roster(bronze: DataFrame, ctx: ConformContext) -> DataFrame:
    letter = {pid: c.codes.sector == "letter" for pid, c in ctx.contracts.items()}
    by_id = {pid: c.codes.sub_industry == "id" for pid, c in ctx.contracts.items()}
    section_by_name = {v: k for k, v in ctx.sections.items()}
    sub_by_name = {v: k for k, v in ctx.sub_industries.items()}
    sector = F.trim("sector")
    sub = F.trim("sub_industry")
    section_code = F.when(_by_platform(letter, True), F.when(sector.isin(list(ctx.sections)), sector)).otherwise(
        _lookup(section_by_name, sector)
    )
    sub_id = F.when(_by_platform(by_id, True), F.when(sub.isin(list(ctx.sub_industries)), sub)).otherwise(
        _lookup(sub_by_name, sub)
    )
    code = F.nullif(F.upper(F.trim("credit_code")), F.lit(""))
    registered = parse_timestamp(F.col("registered_at"), ctx.contracts)
    return bronze.select(
        "platform_id",
        F.trim("tenant_id").alias("tenant_id"),
        code.alias("credit_code"),
        F.trim("company_name").alias("company_name"),
        section_code.alias("section_code"),
        sub_id.alias("sub_industry_id"),
        registered.alias("registered_at"),
        record_key(F.trim("tenant_id")).alias("record_key"),
        F.sha2(
            F.concat_ws(KEY_SEPARATOR, code, F.trim("company_name"), section_code, sub_id, registered.cast("string")),
            256,
        ).alias("content_hash"),
        *_lineage(),
        *_structure(),
        _latest_allowed(ctx),
    )


def _with_tenant(bronze: DataFrame, roster: DataFrame) -> DataFrame:
    tenants = roster.select("platform_id", "tenant_id", "credit_code")
    return bronze.withColumn("tenant_id", F.trim("tenant_id")).join(
        tenants, on=["platform_id", "tenant_id"], how="left"
    )


def _lookup(table: dict, key: Column) -> Column:
    return F.element_at(F.create_map(*[x for k, v in table.items() for x in (F.lit(k), F.lit(v))]), key)


def conform_logins(bronze: DataFrame, roster: DataFrame, ctx: ConformContext, pseudonym_key: bytes) -> DataFrame:
    typed = (
        _with_tenant(bronze, roster)
        .withColumn("event_ts_parsed", parse_timestamp(F.col("event_ts"), ctx.contracts))
        .transform(with_key_pads, pseudonym_key)
    )
    user_key = hmac_sha256_hex(F.concat_ws(":", F.col("platform_id"), F.trim("user_id")))
    return typed.select(
        "platform_id",
        "tenant_id",
        "credit_code",
        user_key.alias("user_key"),
        F.col("event_ts_parsed").alias("event_ts"),
        _event_date(F.col("event_ts_parsed"), ctx).alias("event_date"),
        F.trim("channel").alias("channel"),
        # built from the keyed user_key: an unkeyed hash of the raw user id could be inverted by trying candidates
        record_key(F.col("tenant_id"), user_key, F.col("event_ts_parsed")).alias("record_key"),
        *_lineage(raw_record=pseudonymous_record(user_key)),
        *_structure(),
        _latest_allowed(ctx),
    )


def conform_resource_usage(bronze: DataFrame, roster: DataFrame, ctx: ConformContext) -> DataFrame:
    limits = ctx.pipeline.limits.model_dump()
    vocab = {f"{pid}|{v}": k for pid, c in ctx.contracts.items() for k, v in c.codes.resource_kind.items()}
    factor = {
        f"{pid}|{k}": ctx.feeds.units[rk.unit_kind][c.units.get(rk.unit_kind, ctx.feeds.canonical_unit(rk.unit_kind))]
        for pid, c in ctx.contracts.items()
        for k, rk in ctx.feeds.resource_kinds.items()
    }
    kind_limit = {k: float(limits[rk.limit]) for k, rk in ctx.feeds.resource_kinds.items()}
    kind_unit = {k: ctx.feeds.canonical_unit(rk.unit_kind) for k, rk in ctx.feeds.resource_kinds.items()}
    typed = (
        _with_tenant(bronze, roster)
        .withColumn("event_ts_parsed", parse_timestamp(F.col("event_ts"), ctx.contracts))
        .withColumn("kind", _lookup(vocab, F.concat_ws("|", "platform_id", F.trim("resource_kind"))))
    )
    app = F.nullif(F.trim("app_id"), F.lit(""))
    return typed.select(
        "platform_id",
        "tenant_id",
        "credit_code",
        F.col("event_ts_parsed").alias("event_ts"),
        _event_date(F.col("event_ts_parsed"), ctx).alias("event_date"),
        F.col("kind").alias("resource_kind"),
        app.alias("app_id"),
        (parse_number(F.col("quantity")) * _lookup(factor, F.concat_ws("|", "platform_id", "kind"))).alias("quantity"),
        _lookup(kind_unit, F.col("kind")).alias("unit"),
        record_key(F.col("tenant_id"), F.col("event_ts_parsed"), F.col("kind"), app).alias("record_key"),
        *_lineage(),
        *_structure(),
        _latest_allowed(ctx),
        _lookup(kind_limit, F.col("kind")).alias("quantity_limit"),
    )


def conform_traffic(bronze: DataFrame, roster: DataFrame, ctx: ConformContext) -> DataFrame:
    factor = {pid: ctx.feeds.units["bytes"][c.units.get("bytes", "bytes")] for pid, c in ctx.contracts.items()}
    scale = _by_platform(factor, 1.0)
    typed = _with_tenant(bronze, roster).withColumn(
        "event_ts_parsed", parse_timestamp(F.col("event_ts"), ctx.contracts)
    )
    return typed.select(
        "platform_id",
        "tenant_id",
        "credit_code",
        F.col("event_ts_parsed").alias("event_ts"),
        _event_date(F.col("event_ts_parsed"), ctx).alias("event_date"),
        F.round(parse_number(F.col("bytes_in")) * scale).alias("bytes_in"),
        F.round(parse_number(F.col("bytes_out")) * scale).alias("bytes_out"),
        parse_number(F.col("requests")).alias("requests"),  # a double until the rules have seen fractions
        record_key(F.col("tenant_id"), F.col("event_ts_parsed")).alias("record_key"),
        *_lineage(),
        *_structure(),
        _latest_allowed(ctx),
    )


# Silver's schema per feed: the conformed columns that are kept, with their stored types.
SILVER_COLUMNS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "roster": (
        ("platform_id", None),
        ("tenant_id", None),
        ("credit_code", None),
        ("company_name", None),
        ("section_code", None),
        ("sub_industry_id", None),
        ("registered_at", None),
        ("record_key", None),
        ("content_hash", None),
    ),
    "logins": (
        ("platform_id", None),
        ("tenant_id", None),
        ("credit_code", None),
        ("user_key", None),
        ("event_ts", None),
        ("event_date", None),
        ("channel", None),
        ("record_key", None),
    ),
    "resource_usage": (
        ("platform_id", None),
        ("tenant_id", None),
        ("credit_code", None),
        ("event_ts", None),
        ("event_date", None),
        ("resource_kind", None),
        ("app_id", None),
        ("quantity", None),
        ("unit", None),
        ("record_key", None),
    ),
    "traffic": (
        ("platform_id", None),
        ("tenant_id", None),
        ("credit_code", None),
        ("event_ts", None),
        ("event_date", None),
        ("bytes_in", "bigint"),
        ("bytes_out", "bigint"),
        ("requests", "bigint"),
        ("record_key", None),
    ),
}
SILVER_LINEAGE = ("source_file", "delivery_date", "batch_id", "ingested_at")


def to_silver(rows: DataFrame, feed: str) -> DataFrame:
    """The silver projection of accepted rows: canonical columns and lineage, no rule helpers."""
    return rows.select(
        *[F.col(c).cast(t).alias(c) if t else F.col(c) for c, t in SILVER_COLUMNS[feed]], *SILVER_LINEAGE
    )


def conform(
    feed: str, bronze: DataFrame, roster: DataFrame | None, ctx: ConformContext, pseudonym_key: bytes
) -> DataFrame:
    """The conform step of `feed`; logs resolve tenants through `roster` (none yet: every tenant is unknown)."""
    if feed == "roster":
        return conform_roster(bronze, ctx)
    if roster is None:
        roster = local_frame(bronze.sparkSession, [], "platform_id string, tenant_id string, credit_code string")
    if feed == "logins":
        return conform_logins(bronze, roster, ctx, pseudonym_key)
    if feed == "resource_usage":
        return conform_resource_usage(bronze, roster, ctx)
    return conform_traffic(bronze, roster, ctx)


def overlay(existing: DataFrame | None, accepted: DataFrame, keys: list[str]) -> DataFrame:
    """A table as it will be once `accepted` is upserted on `keys`: what ingest would write, without writing it."""
    if existing is None:
        return accepted
    return existing.join(accepted.select(*keys), on=keys, how="left_anti").unionByName(accepted)
